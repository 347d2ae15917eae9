"""Build hook: compile the C engine with make and ship it inside the package.

`pip install .` runs build_py, which runs `make -C sim` and copies `sim/build/universe-sim` to
`universed/_bin/universe-sim` in the wheel, so an installed universed needs nothing else built.
The systemd unit templates (systemd/) go to `universed/_systemd` (`universed install-service`).
"""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildWithSim(build_py):
    def run(self) -> None:
        super().run()
        subprocess.run(["make", "-C", str(HERE / "sim"), "build/universe-sim"], check=True)
        target = Path(self.build_lib) / "universed" / "_bin"
        target.mkdir(parents=True, exist_ok=True)
        dest = target / "universe-sim"
        shutil.copy2(HERE / "sim" / "build" / "universe-sim", dest)
        os.chmod(dest, 0o755)
        units = Path(self.build_lib) / "universed" / "_systemd"
        shutil.copytree(HERE / "systemd", units, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithSim})
