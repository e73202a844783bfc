from spanbase.cli import main

main()
