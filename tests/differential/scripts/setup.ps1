Write-Host setup
