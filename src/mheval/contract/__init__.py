"""The input data contract: file specs, readers, validation and its errors.

- :data:`FILES` / :func:`spec`: every input file, its columns, keys and allowed values
- :func:`read_input`, :func:`register_input`, :func:`input_files`: read inputs (Parquet or CSV)
- :func:`validate_inputs`: check everything, raise :class:`InputValidationError` with every problem
- :func:`contract_markdown`: the contract as Markdown (docs/data_contract.md)
"""

from mheval.contract.docs import contract_markdown
from mheval.contract.errors import InputError, InputValidationError
from mheval.contract.read import input_files, read_input, register_input
from mheval.contract.spec import FILES, FileSpec, spec
from mheval.contract.validate import validate_inputs, write_report

__all__ = [
           "FILES",
           "FileSpec",
           "InputError",
           "InputValidationError",
           "contract_markdown",
           "input_files",
           "read_input",
           "register_input",
           "spec",
           "validate_inputs",
           "write_report",
]
