"""The SSRF corpus (issue 12): media_url values that must be refused, each with the client's
reason, and real recording links that must still pass. Shared by the client's, the sandbox's
and the relay's tests, so the three checks are held to one list."""

from __future__ import annotations

PRIVATE = "media_url_private_host"
NAME = "media_url_internal_name"
DISGUISED = "media_url_disguised_host"
INVALID = "media_url_invalid"

PRIVATE_IPV4 = [
    "127.0.0.1", "0.0.0.0", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "169.254.169.254", "169.254.170.2", "100.64.0.1", "100.100.100.200", "192.0.0.192",
    "198.18.0.1", "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.88.99.1",
]  # fmt: skip
NON_CANONICAL_IPV4 = [
    "2130706433", "3232235521", "2852039166", "0x7f000001", "0x7f.0.0.1", "0xA9FEA9FE",
    "017700000001", "0177.0.0.1", "0251.0376.0251.0376", "127.1", "127.0.1", "0", "0x7f.1",
    "127.0.0.1.", "127。0。0。1", "①②⑦.⓪.⓪.①", "１２７.０.０.１",
]  # fmt: skip
IPV6 = [
    "[::1]", "[::]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::ffff:a9fe:a9fe]",
    "[::127.0.0.1]", "[::10.0.0.1]", "[64:ff9b::7f00:1]", "[64:ff9b::a9fe:a9fe]",
    "[64:ff9b:1::a00:1]", "[2002:7f00:1::]", "[2002:a9fe:a9fe::]", "[2002:a00:1::]",
    "[fc00::1]", "[fd00:ec2::254]", "[fe80::1]", "[fe80::1%25eth0]", "[fec0::1]", "[ff02::1]",
    "[::ffff:0:7f00:1]", "[::ffff:0:a9fe:a9fe]", "[::ffff:0:10.0.0.1]",
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
    "[2607:f8b0::5efe:10.0.0.1]",  # ISATAP
    "[100::1]", "[2001:db8::1]",
]  # fmt: skip
INTERNAL_NAMES = [
    "localhost", "LOCALHOST.", "ＬＯＣＡＬＨＯＳＴ", "localtest.me", "a.localtest.me", "lvh.me",
    "app.lvh.me", "vcap.me", "local.gd", "localhost.direct", "metadata.google.internal",
    "anything.internal", "host.docker.internal", "anything.local", "x.svc.cluster.local",
    "metadata", "instance-data", "kubernetes", "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local", "router.lan", "printer.home.arpa",
    "nas.localdomain", "localhost.localdomain", "ip6-localhost", "ip6-loopback",
    "wiki.intranet", "files.corp", "router.home", "vault.service.consul",
    "1.0.0.127.in-addr.arpa", "254.169.254.169.in-addr.arpa", "1.0.0.0.ip6.arpa",
]  # fmt: skip
WILDCARD_DNS = [
    "7f000001.nip.io", "app-a9fea9fe.nip.io", "2130706433.nip.io", "127.0.0.1.nip.io",
    "10.0.0.1.nip.io", "app-10-0-0-1.nip.io", "customer.192.168.1.1.nip.io",
    "x.1.10.0.0.1.nip.io", "0177.0.0.1.nip.io", "100.64.0.1.nip.io", "169-254-169-254.sslip.io",
    "0a000001.sslip.io", "--1.sslip.io", "fe80--1.sslip.io", "127.0.0.1.xip.io",
    "10.0.0.1.xip.io", "7f000001.xip.name", "10.0.0.1.traefik.me", "7f000001.c0a80001.rbndr.us",
    "make-1.2.3.4-rebind-127.0.0.1-rr.1u.ms",
    # the same spellings under any domain: dotted or dashed a.b.c.d
    "127.0.0.1.attacker.example", "ip-10-0-0-1.attacker.example", "169-254-169-254.evil.com",
]  # fmt: skip
# Point 1: characters IDNA deletes, so the host sent is not the host written.
INVISIBLE = ["\u00ad", "\u200b", "\u2060", "\ufe00", "\u180b", "\u200d", "\ufeff"]
HIDDEN_HOSTS = {
    "169.254.169.254": PRIVATE,
    "127.0.0.1": PRIVATE,
    "10.0.0.1": PRIVATE,
    "localhost": NAME,
    "metadata.google.internal": NAME,
}

HOST_VECTORS: list[tuple[str, str]] = [
    *((f"https://{h}/rec.mp3", PRIVATE) for h in PRIVATE_IPV4 + NON_CANONICAL_IPV4 + IPV6),
    *((f"https://{h}/rec.mp3", NAME) for h in INTERNAL_NAMES + WILDCARD_DNS),
    *(
        (f"https://{host}{ch}/latest/meta-data/", code)
        for host, code in HIDDEN_HOSTS.items()
        for ch in INVISIBLE
    ),
    ("https://169.254\u00ad.169.254/latest/meta-data/", PRIVATE),
    ("https://1\u200b27.0.0.1/rec.mp3", PRIVATE),
    ("https://local\u00adhost/rec.mp3", NAME),
    ("https://media\u200b.example.com/rec.mp3", DISGUISED),
    ("https://me\u00addia.example.com/rec.mp3", DISGUISED),
    ("https://bü\u2060cher.example/rec.mp3", DISGUISED),
    ("https://%31%32%37.0.0.1/rec.mp3", DISGUISED),
    ("https://%6c%6f%63%61%6c%68%6f%73%74/rec.mp3", DISGUISED),
    ("https://media.example.com%00.attacker.example/rec.mp3", DISGUISED),
    ("https://a%00b.example.com/rec.mp3", DISGUISED),
    ("https://media%2eexample.com/rec.mp3", DISGUISED),
    ("https://[2606:4700:4700::1111%25eth0]/rec.mp3", DISGUISED),
    ("https://xn--zzzz.example.com/rec.mp3", DISGUISED),
    ("https://xn--a.example.com/rec.mp3", DISGUISED),
    ("https://xn--abc-.example.com/rec.mp3", DISGUISED),
    ("https://xn--bcher-kva-.example/rec.mp3", DISGUISED),
    ("https://1.2.3.999/rec.mp3", INVALID),
    ("https://10.0.0.1.5/rec.mp3", NAME),
]
SYNTAX_VECTORS: list[tuple[str, str]] = [
    ("https://good.com@127.0.0.1/", "media_url_userinfo"),
    ("https://user:secret@media.example.com/a.mp3", "media_url_userinfo"),
    ("https://127.0.0.1\\@good.com/", INVALID),
    ("https://media.example.com\\a.mp3", INVALID),
    ("https://media.example.com/a b.mp3", INVALID),
    ("https://media.example.com/\x00.mp3", INVALID),
    ("https://exa\u2100mple.com/a.mp3", INVALID),  # NFKC turns ℀ into a/c: the host would split
    ("https://media..example.com/a.mp3", INVALID),
    ("https://[::1/a.mp3", INVALID),
    ("http://media.example.com/a.mp3", "media_url_not_https"),
    ("file:///etc/passwd", "media_url_not_https"),
    ("gopher://127.0.0.1:6379/_INFO", "media_url_not_https"),
    ("ftp://media.example.com/a.mp3", "media_url_not_https"),
]
VECTORS = HOST_VECTORS + SYNTAX_VECTORS

LEGITIMATE = [
    "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3",
    "https://api.twilio.com:443/2010-04-01/Accounts/AC1/Recordings/RE1.wav",
    "https://media.twiliocdn.com/AC1/RE1.mp3",
    "https://zoom.us/rec/play/abc123.mp4?access_token=eyJhbGciOi",
    "https://us02web.zoom.us/rec/share/abc.mp4",
    "https://s3.amazonaws.com/bucket/rec/1.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20240415%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20240415T140000Z&X-Amz-Expires=600&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=0123456789abcdef",
    "https://bucket.s3.us-east-1.amazonaws.com/rec/1.mp3?X-Amz-Expires=600&X-Amz-Signature=ab",
    "https://storage.googleapis.com/bucket/rec/1.mp3?X-Goog-Algorithm=GOOG4-RSA-SHA256"
    "&X-Goog-Date=20240415T140000Z&X-Goog-Expires=600&X-Goog-Signature=ab",
    "https://acme.blob.core.windows.net/recordings/1.mp3?sv=2022-11-02&se=2030-01-01T00%3A00%3A00Z"
    "&sr=b&sp=r&sig=abc%3D",
    "https://d111111abcdef8.cloudfront.net/rec/1.mp3?Expires=1900000000&Signature=ab"
    "&Key-Pair-Id=K1",
    "https://bücher.example/aufnahme/1.mp3",
    "https://xn--bcher-kva.example/aufnahme/1.mp3",
    "https://録音.example.jp/通話.mp3",
    "https://media.example.com/録音/通話.mp3",
    "https://ec2-54-1-2-3.compute-1.amazonaws.com/a.mp3",
    "https://93.184.216.34.nip.io/a.mp3",
    "https://[2606:4700:4700::1111]/rec.mp3",
    "https://93.184.216.34/rec.mp3",
    "HTTPS://Media.Example.COM/Rec.WAV",
    "https://media.example.com./rec.mp3",
    "https://cdn_1.example.com/a.mp4",
    "https://recordings.example.co.uk/a.mp4#t=10",
]
