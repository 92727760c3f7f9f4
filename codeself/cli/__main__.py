from codeself.cli import main

main()
