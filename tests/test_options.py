"""Keyword validation: every bad value fails in the constructor, before any directory,
file or cluster exists."""

from __future__ import annotations

import os
import re

import distributed
import numpy as np
import pytest
from funcs import f

from acme import ParallelMap

BAD = [
    ("write_worker_results", "yes", TypeError, "`write_worker_results` has to be `True` or `False`"),
    ("single_file", 1, TypeError, "`single_file` has to be `True` or `False`"),
    ("write_pickle", None, TypeError, "`write_pickle` has to be `True` or `False`"),
    ("dryrun", "no", TypeError, "`dryrun` has to be `True` or `False`"),
    ("setup_interactive", 0, TypeError, "`setup_interactive` has to be `True` or `False`"),
    ("verbose", "loud", TypeError, "`verbose` has to be `True`, `False` or `None`"),
    ("stop_client", "always", TypeError, "`stop_client` has to be 'auto' or Boolean"),
    ("n_workers", 0, ValueError, "`n_workers` has to be an integer between 1 and inf, not 0"),
    ("n_workers", "many", ValueError, "`n_workers` has to be 'auto' or an integer"),
    ("n_workers", 2.5, ValueError, "`n_workers` has to be an integer"),
    ("setup_timeout", -10, ValueError, "`setup_timeout` has to be an integer between 0 and inf, not -10"),
    ("setup_timeout", "60", TypeError, "`setup_timeout` has to be an integer between 0 and inf, not <class 'str'>"),
    ("processes_per_worker", 0, ValueError, "`processes_per_worker` has to be an integer between 1 and inf, not 0"),
    ("processes_per_worker", "2", TypeError, "`processes_per_worker` has to be an integer between 1 and inf, not <class 'str'>"),
    ("partition", 123, TypeError, "`partition` has to be a string"),
    ("mem_per_worker", 4, TypeError, "`mem_per_worker` has to be a string"),
    ("mem_per_worker", "lots", ValueError, "`mem_per_worker` has to be a positive amount of memory like '2GB', '1500MB' or '2GiB' (at least 1MB), not 'lots'"),
    ("mem_per_worker", "0GB", ValueError, "`mem_per_worker` has to be a positive amount of memory"),
    ("cleanup_threshold_days", -1, ValueError, "`cleanup_threshold_days` has to be an integer"),
    ("result_dtype", 3, TypeError, "`result_dtype` has to be a string"),
    ("result_dtype", "flot", ValueError, "`result_dtype` has to be a valid NumPy datatype"),
    ("result_shape", "invalid", TypeError, "`result_shape` has to be either `None` or tuple"),
    ("result_shape", (3, 4), ValueError, "`result_shape` must contain exactly one `None`"),
    ("result_shape", (None, None), ValueError, "`result_shape` must contain exactly one `None`"),
    ("result_shape", (None, "a"), ValueError, "`result_shape` must only contain numerical values"),
    ("result_shape", (None, -3), ValueError, "`result_shape` must only contain positive integers"),
    ("result_shape", (None, 2.5), ValueError, "`result_shape` must only contain positive integers"),
    ("result_shape", (None, 0), ValueError, "`result_shape` must only contain positive integers"),
    ("result_shape", (0, None, 3), ValueError, "`result_shape` must only contain positive integers"),
    ("result_shape", (None, -np.inf), ValueError, "`result_shape` must only contain positive integers"),
    ("result_shape", (None, np.inf, np.inf), ValueError, "cannot use more than one `np.inf` in `result_shape`"),
    ("logfile", 3, TypeError, "`logfile` has to be `None`, `True`, `False` or a valid file-name, not <class 'int'>"),
    ("output_dir", 3, TypeError, "`output_dir` has to be `None` or a path"),
]


@pytest.mark.parametrize("name, value, exc, message", BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_bad_keyword_fails_before_any_work(in_tmp, name, value, exc, message):
    with pytest.raises(exc) as err:
        ParallelMap(f, [2, 4, 6, 8], 4, **{name: value})
    assert message in str(err.value)
    assert os.listdir(in_tmp) == []
    with pytest.raises(ValueError):
        distributed.get_client()  # no client was started


def test_inf_in_memory_mode(in_tmp):
    with pytest.raises(ValueError, match="using `np.inf` in `result_shape` is only valid if "
                                         "`write_worker_results` is `True`"):
        ParallelMap(f, [2, 4], 4, result_shape=(None, np.inf), write_worker_results=False)


def test_pickle_with_single_file(in_tmp):
    with pytest.raises(ValueError, match="Pickling of results does not support single output "
                                         "file creation."):
        ParallelMap(f, [2, 4], 4, write_pickle=True, single_file=True)


def test_logfile_is_a_directory(in_tmp):
    with pytest.raises(OSError, match="`logfile` has to be `None`, `True`, `False` or a valid "
                                      "file-name, not a directory"):
        ParallelMap(f, [2, 4], 4, logfile=str(in_tmp))


def test_output_dir_holding_results_is_refused(in_tmp):
    (in_tmp / "out" / "f_payload").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="already holds results of f"):
        ParallelMap(f, [2, 4], 4, output_dir=str(in_tmp / "out"))


def test_debug_must_be_bool(in_tmp):
    pmap = ParallelMap(f, [2, 4], 4, write_worker_results=False)
    with pytest.raises(TypeError, match="`debug` has to be `True` or `False`"):
        pmap.compute(debug="yes")


def test_constructor_has_no_side_effects(in_tmp):
    pmap = ParallelMap(f, [2, 4], 4)
    assert os.listdir(in_tmp) == []
    assert pmap.results_container is None


@pytest.mark.parametrize(("keywords", "exc", "message"), [
    ({"debug": "yes"}, TypeError, "`debug` has to be `True` or `False`, not 'yes'"),
    ({"chunk_size": 0}, ValueError, "`chunk_size` has to be an integer between 1 and inf, "
                                    "not 0"),
    ({"chunk_size": "4"}, TypeError, "`chunk_size` has to be an integer between 1 and inf, not <class 'str'>"),
])
def test_bad_compute_arguments_leave_nothing_on_disk(in_tmp, keywords, exc, message):
    with ParallelMap(f, [2, 4], 4, output_dir=str(in_tmp / "out")) as pmap:
        assert (in_tmp / "out").is_dir()   # entering the run made its directory and log
        with pytest.raises(exc, match=re.escape(message)):
            pmap.compute(**keywords)
        assert os.listdir(in_tmp) == []
        # the run is still usable with good values
        assert pmap.compute(debug=True) == [str(in_tmp / "out" / "f_payload" / f"f_{i}.h5")
                                            for i in range(2)]
    with pytest.raises(exc, match=re.escape(message)):
        ParallelMap(f, [2, 4], 4).compute(**keywords)   # standalone compute
    assert os.listdir(in_tmp) == ["out"]
