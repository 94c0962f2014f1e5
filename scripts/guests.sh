# Sourced by build.sh and test.sh: the WebAssembly guest crates. They are
# built for wasm32-wasip2 only (a native cdylib of a Spin component does not
# link) and unit-tested natively through their `--lib` test targets.
GUESTS=(product-catalog orders-api order-events outbox-relay probe-guest)
GUEST_PACKAGES=()
GUEST_EXCLUDES=()
for guest in "${GUESTS[@]}"; do
  GUEST_PACKAGES+=(-p "$guest")
  GUEST_EXCLUDES+=(--exclude "$guest")
done
