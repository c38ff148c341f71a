class worker {
  file { '/etc/imgs-worker.conf':
    content => "threads=${facts['worker_threads']}\nbuilt_by=${facts['packer_build_name']}\n",
    mode    => '0644',
  }
  file { '/etc/systemd/system/imgs-worker.service':
    content => "[Unit]\nDescription=imgs example worker\n\n[Service]\nExecStart=/usr/local/bin/imgs-worker\n\n[Install]\nWantedBy=multi-user.target\n",
    mode    => '0644',
  }
  file { '/etc/systemd/system/multi-user.target.wants/imgs-worker.service':
    ensure  => link,
    target  => '/etc/systemd/system/imgs-worker.service',
    require => File['/etc/systemd/system/imgs-worker.service'],
  }
}
