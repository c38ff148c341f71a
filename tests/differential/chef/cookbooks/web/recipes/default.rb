package 'nginx'
