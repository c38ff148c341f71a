#!/bin/sh
# Installs the static site from /tmp/site and a unit that serves it on port 8080.
set -eu
mkdir -p /srv/www
sed "s/@TITLE@/${SITE_TITLE}/" /tmp/site/index.html > /srv/www/index.html
rm -rf /tmp/site
cat > /etc/systemd/system/imgs-web.service <<UNIT
[Unit]
Description=imgs example web site
[Service]
ExecStart=/bin/busybox httpd -f -p 8080 -h /srv/www
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/imgs-web.service /etc/systemd/system/multi-user.target.wants/imgs-web.service
echo 'app-web by imgs' > /etc/imgs-app
