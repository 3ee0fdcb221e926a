"""See the wire: scapy captures of the lab, reassembled and annotated (issue 6).

capture      scapy AsyncSniffer on lo, raw frames, pcap output
reassembly   TCP streams by sequence number, each byte mapped to its segment
annotate     the protocols/ parsers over each stream: named elements with byte ranges
timeline     text and JSON views, one entry per segment
scenarios    the clients `lab trace` runs, recording every byte they send and receive
server       start and stop `lab serve` on 127.0.0.1 port 0
handshake    a TCP handshake crafted by scapy in a private network namespace
cli          `lab trace`, `lab inspect` (configure_*/run_* for the lab's CLI)
"""
