complete -c tcpdump -s B -d 'The capture buffer size, in KiB (the stack grants up to 255)' -r
complete -c tcpdump -s i -d 'Listen on this interface of the stack' -r
complete -c tcpdump -s c -d 'Exit after receiving count packets' -r
complete -c tcpdump -s s -d 'Capture at most snaplen bytes of each packet (0: 262144, the default)' -r
complete -c tcpdump -s Q -d 'Capture packets received, sent, or both' -r -f -a "in\t''
out\t''
inout\t''"
complete -c tcpdump -s w -d 'Write the raw packets to file (pcap format); - is standard output' -r
complete -c tcpdump -s r -d 'Read packets from a pcap file; - is standard input' -r
complete -c tcpdump -s D -d 'List the interfaces tcpdump can listen on'
complete -c tcpdump -s p -d 'Do not put the interface into promiscuous mode'
complete -c tcpdump -s U -d 'Write each packet to the -w file as soon as it is captured'
complete -c tcpdump -s l -d 'Make standard output line buffered'
complete -c tcpdump -s e -d 'Print the link-level header on each line'
complete -c tcpdump -s A -d 'Print each packet (without its link-level header) in ASCII'
complete -c tcpdump -s # -l number -d 'Print a packet number at the start of each line'
complete -c tcpdump -s n -d 'Do not convert addresses to names (-nn: nor ports)'
complete -c tcpdump -s t -d '-t: no time stamp; -tt: seconds since 1970; -ttt: delta; -tttt: date'
complete -c tcpdump -s v -d 'More detail (-vv, -vvv: even more)'
complete -c tcpdump -s q -d 'Print less protocol information'
complete -c tcpdump -s x -d 'Print each packet in hex (-xx: with its link-level header)'
complete -c tcpdump -s X -d 'Print each packet in hex and ASCII (-XX: with its link-level header)'
complete -c tcpdump -s d -d 'Print the compiled filter and exit (-dd: as C, -ddd: as numbers)'
complete -c tcpdump -s O -d 'Do not run the filter optimizer'
complete -c tcpdump -s S -d 'Print absolute, not relative, TCP sequence numbers'
complete -c tcpdump -s h -l help -d 'Print help'
