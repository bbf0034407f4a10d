# The service catalogue and orders (issue #4) live here.
