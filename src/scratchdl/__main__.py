from scratchdl.cli.main import main

raise SystemExit(main())
