from contentgen.cli import main

main()
