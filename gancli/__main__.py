from gancli.cli import main

raise SystemExit(main())
