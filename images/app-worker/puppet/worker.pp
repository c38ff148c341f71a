# The worker's service, applied by Puppet on the machine; the thread count arrives as a fact.
include worker
