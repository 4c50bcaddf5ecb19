"""Prints the scalars of a TensorBoard log folder as JSON, read by TensorBoard's own
EventAccumulator: {"tag": [[step, value], ...], ...}. Used by the tests to check what the
trainer and `unimlip eval` write.

    python python/tb_scalars.py RUN/tensorboard
"""

import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main():
    acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
    acc.Reload()
    out = {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
