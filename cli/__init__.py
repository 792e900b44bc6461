"""The `vmieval` command line: parse, call one library function, render. No math lives here."""
