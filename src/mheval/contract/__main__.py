"""python -m mheval.contract: print the data contract as Markdown."""

from mheval.contract.docs import contract_markdown

print(contract_markdown(), end="")
