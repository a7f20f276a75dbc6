# Makes tests/data/torch/zip_python.zip with Python's zipfile (one stored and
# one deflated member) for tests/zip_test.ts. Run with /usr/bin/python3.
import zipfile, os
here = os.path.dirname(os.path.abspath(__file__))
with zipfile.ZipFile(os.path.join(here, "zip_python.zip"), "w") as z:
    z.writestr(zipfile.ZipInfo("stored.txt", (1980, 1, 1, 0, 0, 0)), b"hello stored\n" * 3, zipfile.ZIP_STORED)
    z.writestr(zipfile.ZipInfo("dir/deflated.bin", (1980, 1, 1, 0, 0, 0)), bytes(range(256)) * 40, zipfile.ZIP_DEFLATED)
