"""How a figure is judged: metric records and results, statistics, the verdict of one metric."""
