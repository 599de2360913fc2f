"""Trusted execution: AMD SEV-SNP attestation reports, AMD's certificate chain, launch
measurements, the KDS client, and the key material green zones exchange (Erlang terms).

    report        the 1184-byte report <-> the reference's JSON form
    certs         ARK -> ASK -> VCEK (RSA-PSS SHA-384, pinned roots) and the report's ECDSA P-384 signature
    kds           the chip's VCEK from AMD's KDS, through the node's routes, memoised
    measurement   the launch digest from local hashes (`sev-snp-measure`, OVMF layout as configuration)
    attest        the checks of an attestation message, and the nonce a report must carry
    guest         a report from this guest's firmware (configfs-tsm, /dev/sev-guest)
    etf           the Erlang External Term Format subset green zones use
    zone          zone keys, sealed wallets and wrapped keys in HyperBEAM's forms
    errors        one typed error per failed check
"""
