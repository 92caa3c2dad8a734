# In Google Colab: fetch the kit and install what Colab lacks (no restart needed). Elsewhere this cell does nothing.
import sys

if "google.colab" in sys.modules:
    import os, runpy, subprocess
    KIT = "/content/bert-pretraining-kit"
    if not os.path.isdir(KIT):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1",
                        "https://github.com/bert-pretraining-kit/bert-pretraining-kit", KIT], check=True)
    runpy.run_path(f"{KIT}/scripts/colab_setup.py", run_name="__main__")  # also puts KIT on sys.path
    os.chdir(f"{KIT}/notebooks")
