from sparsecli.cli import main

main()
