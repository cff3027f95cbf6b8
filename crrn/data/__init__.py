"""Board files: Parquet (one row per board) and JSON Lines, with simulated ground truth beside them."""

from crrn.data.files import iter_boards, iter_boards_with_truth, read_boards, write_boards, write_pairs

__all__ = ["iter_boards", "iter_boards_with_truth", "read_boards", "write_boards", "write_pairs"]
