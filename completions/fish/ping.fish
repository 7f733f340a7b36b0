complete -c ping -s c -d 'Stop after sending (and waiting for the replies to) count packets' -r
complete -c ping -s h -d 'The host to ping, instead of the last argument' -r
complete -c ping -s i -d 'Wait interval seconds between packets (default 1)' -r
complete -c ping -s I -d 'Send from this address' -r
complete -c ping -s l -d 'Send preload packets as fast as possible first (superuser only)' -r
complete -c ping -s p -d 'Fill the data with up to 16 bytes given in hex' -r
complete -c ping -s s -d 'Data bytes in each packet (default 56, 64 with the ICMP header)' -r
complete -c ping -s T -d 'Time to live of the packets sent (default 255)' -r
complete -c ping -s t -d 'Type of service of the packets sent' -r
complete -c ping -s w -d 'Stop after maxwait seconds, whatever has been sent or received' -r
complete -c ping -l help -d 'Print help'
complete -c ping -s a -d 'Beep on every reply'
complete -c ping -s C -d 'Send the old 8-byte timestamp (struct timeval); times print in milliseconds to three places'
complete -c ping -s f -d 'Flood ping: a dot for every request sent, a backspace for every reply (superuser only)'
complete -c ping -s n -d 'Numeric output only (always the case here)'
complete -c ping -s o -d 'Exit successfully after the first reply'
complete -c ping -s P -d 'Fill the data with a pseudo-random sequence'
complete -c ping -s q -d 'Print only the summary lines at start and end'
complete -c ping -s Q -d 'Do not print ICMP errors about our echo requests'
complete -c ping -s v -d 'List every ICMP packet received, not only echo replies'
