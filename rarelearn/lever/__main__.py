"""``python -m rarelearn.lever``: the command line of ``rarelearn.lever.main``."""
import sys

from rarelearn import lever

if __name__ == '__main__':
  lever.main(sys.argv[1:])
