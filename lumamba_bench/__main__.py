from lumamba_bench.cli import main

main()
