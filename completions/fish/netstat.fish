complete -c netstat -s c -d 'With -w: stop after count lines' -r
complete -c netstat -s f -d 'Only this address family: inet, inet6 (with -r), arp, link' -r
complete -c netstat -s I -d 'Only this interface (implies -i)' -r
complete -c netstat -s p -d 'Statistics of one protocol: ip, icmp, tcp, udp, arp' -r
complete -c netstat -s w -d 'Show interface traffic every wait seconds (until interrupted or -c)' -r
complete -c netstat -s a -d 'Show the state of all sockets, servers (listening and unconnected) too'
complete -c netstat -s B -d 'Show the bpf users (not in this build yet)'
complete -c netstat -s b -d 'With -i or -w: bytes in and out instead of packet counts'
complete -c netstat -s i -d 'Show the interfaces: addresses and packet counters'
complete -c netstat -s n -d 'Print addresses as numbers, not names'
complete -c netstat -s r -d 'Show the routing tables'
complete -c netstat -s s -d 'Show protocol statistics; twice hides the counters that are zero'
complete -c netstat -s v -d 'With -i, the socket table or -f arp: cut no long name or address to its column\'s width; each column is as wide as its widest entry'
complete -c netstat -s x -d 'With the socket tables: the receive and send buffer sizes too (R-HIWA, S-HIWA)'
complete -c netstat -l json -d 'With -i, -r, -s, -f arp or the socket table: print JSON'
complete -c netstat -s h -l help -d 'Print help'
