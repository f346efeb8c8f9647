from trello_sync.cli import main

raise SystemExit(main())
