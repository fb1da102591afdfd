#!/usr/bin/env python3
"""Builds crates/core/data/gazetteer.tsv: postcode, city, latitude, longitude.

French rows come from the real vaccination-site list in ../shared/data (one row per postcode
and city: the mean position of the sites there, whose addresses end in "<postcode> <city>").
A few German and Italian cities are added by hand. The server uses it to turn "Lyon" or
"69003" into a point for distance search and for a new practice's address.
"""
import json, re, sys, collections, pathlib

root = pathlib.Path(__file__).resolve().parent.parent
src = root.parent / "shared" / "data" / "vaccination-centers-fr-2021-04-14.json"
data = json.loads(src.read_text())
acc = collections.defaultdict(list)
pat = re.compile(r"\b(\d{5})\s+([^,\d][^,]*)$")
for dep, v in data.items():
    if not isinstance(v, dict):
        continue
    for key in ("centres_disponibles", "centres_indisponibles"):
        for site in v.get(key) or []:
            loc = site.get("location") or {}
            addr = ((site.get("metadata") or {}).get("address") or "").strip()
            m = pat.search(addr)
            lat, lon = loc.get("latitude"), loc.get("longitude")
            if not m or lat is None or lon is None:
                continue
            city = re.sub(r"\s+", " ", m.group(2)).strip().title()
            if not (41 <= lat <= 52 and -6 <= lon <= 10):
                continue  # overseas sites stay out of this metropolitan table
            acc[(m.group(1), city)].append((lat, lon))
rows = []
for (pc, city), pts in sorted(acc.items()):
    lat = sum(p[0] for p in pts) / len(pts)
    lon = sum(p[1] for p in pts) / len(pts)
    rows.append(f"FR\t{pc}\t{city}\t{lat:.4f}\t{lon:.4f}")
hand = [
    ("DE", "10117", "Berlin", 52.5200, 13.4050), ("DE", "20095", "Hamburg", 53.5511, 9.9937),
    ("DE", "80331", "München", 48.1374, 11.5755), ("DE", "50667", "Köln", 50.9375, 6.9603),
    ("DE", "60311", "Frankfurt am Main", 50.1109, 8.6821), ("DE", "70173", "Stuttgart", 48.7758, 9.1829),
    ("IT", "00184", "Roma", 41.9028, 12.4964), ("IT", "20121", "Milano", 45.4642, 9.1900),
    ("IT", "80133", "Napoli", 40.8518, 14.2681), ("IT", "10121", "Torino", 45.0703, 7.6869),
    ("IT", "50122", "Firenze", 43.7696, 11.2558), ("IT", "40121", "Bologna", 44.4949, 11.3426),
]
for c, pc, city, lat, lon in hand:
    rows.append(f"{c}\t{pc}\t{city}\t{lat:.4f}\t{lon:.4f}")
out = root / "crates" / "core" / "data" / "gazetteer.tsv"
out.write_text("# country\tpostcode\tcity\tlat\tlon — built by scripts/build-gazetteer.py\n" + "\n".join(rows) + "\n")
print(f"{len(rows)} rows -> {out}", file=sys.stderr)
