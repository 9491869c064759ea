"""One module per page of the control panel."""
