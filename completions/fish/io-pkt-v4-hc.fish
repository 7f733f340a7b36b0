complete -c io-pkt-v4-hc -s d -d 'Start an interface on DRIVER with comma-separated OPTIONS (repeatable)' -r
complete -c io-pkt-v4-hc -s p -d 'Configure PROTOCOL (tcpip) with comma-separated OPTIONS' -r
complete -c io-pkt-v4-hc -s t -d 'Receive threads (default: one per CPU)' -r
complete -c io-pkt-v4-hc -s f -d 'Stay in the foreground'
complete -c io-pkt-v4-hc -s v -d 'More messages in the log'
complete -c io-pkt-v4-hc -s h -l help -d 'Print help'
complete -c io-pkt-v4-hc -s V -l version -d 'Print version'
