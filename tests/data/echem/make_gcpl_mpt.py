"""Write gcpl_C03.mpt, a small hand-made BioLogic EC-Lab text export (run: python make_gcpl_mpt.py).

Layout follows EC-Lab 11 GCPL exports: ``EC-Lab ASCII FILE`` / ``Nb header lines : N`` (counting
the first two lines and the column line), settings block with ``Acquisition started on`` (US
MM/DD/YYYY) and ``Mass of active material``, tab-separated columns, CRLF line ends, latin-1 text.
Content: 10 min rest near 3.05 V, 1 h charge at +0.2 mA (3.2 → 4.1 V), 1 h discharge at −0.2 mA
(4.05 → 3.2 V), one record every 300 s (27 records); (Q-Qo) in coulombs (0.72 C = 0.2 mAh at the
top of charge); ``cycle number`` 0 throughout.
"""

import numpy as np

HEADER = [
    "EC-Lab ASCII FILE", "Nb header lines : {n}", "",
    "Galvanostatic Cycling with Potential Limitation", "",
    "Run on channel : 3 (SN 0815)", "User : ", "Electrode connection : standard",
    "Potential control : Ewe", "Ewe ctrl range : min = 0.00 V, max = 5.00 V",
    "Safety Limits :", "\tEwe min = 1.5 V", "\tEwe max = 4.5 V",
    "Acquisition started on : 07/02/2025 19:08:11.000", "Loaded Setting File : NONE",
    "Saved on :", "\tFile : cell8_GCPL_C03.mpr", "\tDirectory : C:\\Data\\operando\\",
    "\tHost : 192.168.0.10", "Device : VMP3 (SN 0815)",
    "Electrode material : Na0.67Mn0.5Ni0.17Fe0.33O2", "Mass of active material : 4.200 mg",
    " at x = 0.000", "Battery capacity : 0.700 mA.h", "",
]
COLUMNS = ["mode", "ox/red", "error", "control changes", "Ns changes", "counter inc.", "Ns", "time/s",
           "control/V/mA", "Ewe/V", "I/mA", "dQ/C", "(Q-Qo)/C", "half cycle", "Q charge/discharge/mA.h",
           "Capacitance charge/\u00b5F", "cycle number", "P/W"]


def rows() -> list[list]:
    out, q = [], 0.0
    for k, ti in enumerate(np.arange(0, 7800 + 1, 300.0)):
        if ti <= 600:
            ns, i, v, half = 0, 0.0, 3.0510 - 0.0002 * k, 0
        elif ti <= 4200:
            ns, i, half, v = 1, 0.2, 0, 3.20 + 0.9 * (ti - 600) / 3600
        else:
            ns, i, half, v = 2, -0.2, 1, 4.05 - 0.85 * (ti - 4200) / 3600
        dq = i * 300 / 1000 if k else 0.0        # C over the last interval
        q += dq
        qcd = (q if half == 0 else q - 0.72) / 3.6
        out.append([3 if ns == 0 else 1, int(i > 0), 0, int(k in (0, 3, 15)), int(k in (3, 15)), 0, ns,
                    ti, i, v, i, dq, q, half, qcd, 0.0, 0, v * i / 1000])
    return out


def main() -> None:
    def fmt(x: object) -> str:
        return f"{x:.15E}" if isinstance(x, float) else str(x)

    lines = HEADER + ["\t".join(COLUMNS)] + ["\t".join(fmt(x) for x in r) for r in rows()]
    text = "\r\n".join(lines).replace("{n}", str(len(HEADER) + 1)) + "\r\n"
    with open("gcpl_C03.mpt", "wb") as fh:
        fh.write(text.encode("latin-1"))


if __name__ == "__main__":
    main()
