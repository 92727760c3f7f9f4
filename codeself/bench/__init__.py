"""``codeself bench …`` measurements. Each compares against a baseline measured in the same run and
names its targets once, at the top of its module; nothing here is imported by the library."""
