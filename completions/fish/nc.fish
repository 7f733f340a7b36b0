complete -c nc -s w -d 'Quit after this many seconds without data once input has ended' -r
complete -c nc -s s -d 'Send from this local address' -r
complete -c nc -s 4 -d 'Use IPv4 addresses only'
complete -c nc -s 6 -d 'Use IPv6 addresses only'
complete -c nc -s l -d 'Listen for incoming data'
complete -c nc -s k -d 'With -l, keep listening after the first peer'
complete -c nc -s u -d 'Use UDP'
complete -c nc -s N -d 'Shut the connection down at end of input (TCP)'
complete -c nc -s z -d 'Scan: connect, send nothing'
complete -c nc -s v -d 'Say what happens on standard error'
complete -c nc -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nc -s V -l version -d 'Print version'
