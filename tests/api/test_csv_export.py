"""api.csv_export: CSV that round-trips and is safe in a spreadsheet."""

import csv
import io

from api.csv_export import to_csv


def test_to_csv_round_trips_through_the_csv_reader():
    rows = [
        {
            "id": 1,
            "name": 'a "quoted", name',
            "test_mse": {"mean": 0.1 + 0.2, "n": 3},
            "tags": ["x", "y"],
            "done": True,
        },
        {
            "id": 2,
            "name": '=HYPERLINK("http://evil")',
            "test_mse": {"mean": None},
            "tags": [],
            "done": False,
        },
        {"id": 3, "name": "-5", "test_mse": {"mean": float("nan")}},
    ]
    text = to_csv(rows, ["id", "name", "test_mse.mean", "test_mse.n", "tags", "done"])
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == ["id", "name", "test_mse.mean", "test_mse.n", "tags", "done"]
    assert parsed[1] == ["1", 'a "quoted", name', repr(0.1 + 0.2), "3", '["x", "y"]', "true"]
    assert float(parsed[1][2]) == 0.1 + 0.2
    assert parsed[2][1].startswith("'=")  # not run as a formula by a spreadsheet
    assert parsed[2][2:] == ["", "", "[]", "false"]
    assert parsed[3][1] == "-5" and parsed[3][2] == "nan"


def test_to_csv_of_no_rows_is_the_header():
    assert to_csv([], ["a", "b"]) == "a,b\n"
