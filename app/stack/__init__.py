"""The whole stack as local processes (`ventwatch up`, `make run`), as compose runs it in containers."""
