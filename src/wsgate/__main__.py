from wsgate.cli import main


raise SystemExit(main())
