from sparsecli import main

main()
