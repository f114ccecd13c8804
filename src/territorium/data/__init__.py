"""Import of CRM and shop exports: readers, validation, offline geocoding.

Library API (the CLI ``territorium import`` wraps it)::

    from territorium.data import import_file, import_directory, read_file
    result = import_file("accounts.csv", "accounts", format="salesforce")
    if not result.ok:
        print(result.problems)          # file, row, column, value, reason, severity
"""
from territorium.data.importer import (
    DirectoryResult,
    ImportResult,
    import_directory,
    import_file,
    read_file,
    write_rejects,
)
from territorium.data.problems import ImportFailed, Problem

__all__ = [
    "DirectoryResult", "ImportFailed", "ImportResult", "Problem", "import_directory", "import_file",
    "read_file", "write_rejects",
]
