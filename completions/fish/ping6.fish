complete -c ping6 -s c -d 'Stop after sending (and receiving) count packets' -r
complete -c ping6 -s h -d 'Hop limit of the packets sent' -r
complete -c ping6 -s I -d 'Send on this interface (the scope of a link-local destination)' -r
complete -c ping6 -s i -d 'Wait this many seconds between packets (default 1)' -r
complete -c ping6 -s l -d 'Send preload packets as fast as possible first' -r
complete -c ping6 -s p -d 'Fill the data with up to 16 bytes given in hex' -r
complete -c ping6 -s S -d 'Send from this address' -r
complete -c ping6 -s s -d 'Data bytes in each packet (default 8)' -r
complete -c ping6 -s X -d 'Stop after deadline seconds, whatever has been sent or received' -r
complete -c ping6 -s a -d 'Node Information Node Addresses query: a all interfaces, l link-local, s site-local, g global, c IPv4-compatible, A anycast' -r
complete -c ping6 -s b -d 'Socket buffer size (SO_SNDBUF and SO_RCVBUF)' -r
complete -c ping6 -s g -d 'Not supported: IPV6_NEXTHOP' -r
complete -c ping6 -s P -d 'Not supported: IPsec' -r
complete -c ping6 -s x -d 'Not supported (see -X)' -r
complete -c ping6 -l help -d 'Print help'
complete -c ping6 -s f -d 'Flood ping (superuser only)'
complete -c ping6 -s n -d 'Numeric output only (always the case here)'
complete -c ping6 -s o -d 'Exit successfully after the first reply'
complete -c ping6 -s q -d 'Print only the summary lines at start and end'
complete -c ping6 -s v -d 'List every ICMPv6 message received, not only echo replies'
complete -c ping6 -s H -d 'Look up names for the addresses printed'
complete -c ping6 -s t -d 'Node Information Supported Qtypes query'
complete -c ping6 -s w -d 'Node Information Node Name query'
complete -c ping6 -s W -d 'As -w, in the 03 draft\'s form (no subject)'
complete -c ping6 -s m -d 'Do not fragment at the minimum MTU: once for unicast, twice for multicast too'
complete -c ping6 -s d -d 'Not supported'
complete -c ping6 -s N -d 'Not supported: the NI multicast group'
