"""Orders: products, stock, idempotent ordering, payments and exports."""
