"""The program's exit codes, one meaning each, shared by the command line and the worker.

0 success; 1 a failure at run time (Trello, the network, the ledger, a full disk: it may
heal by itself); 2 bad configuration or usage (a setting to fix: retrying cannot help,
so the systemd unit does not restart on it).
"""

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
