"""Finding, splitting, checking and loading a data set of class folders."""
