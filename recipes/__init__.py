"""The corpus recipes: one module per corpus (TUAB, TUAR, TUSL, TUEG, APAVA, TDBrain, the demo)
and the helpers they share. Installed as ``lumamba_bench.recipes``; the contract they follow and
the registry that finds them by name are ``lumamba_bench.data.recipe``.
"""
