#!/bin/sh
# Installs a worker that logs a heartbeat, with its thread count from WORKER_THREADS.
set -eu
cat > /usr/local/bin/imgs-worker <<SCRIPT
#!/bin/sh
while true; do echo "worker alive, threads=${WORKER_THREADS}"; sleep 60; done
SCRIPT
chmod 755 /usr/local/bin/imgs-worker
echo 'app-worker by imgs' > /etc/imgs-app
