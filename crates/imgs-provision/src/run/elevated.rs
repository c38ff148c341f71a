//! Running a Windows command as another user, elevated: what Packer 1.6.6 does for `elevated_user`.
//! A PowerShell wrapper is uploaded that registers a scheduled task running the command as that user
//! with the highest privileges, starts it, relays the task's output (redirected to a log file) while
//! it runs, removes the task, the log and itself, and exits with the task's result. The command that
//! runs the wrapper replaces the original one.
//!
//! The wrapper is imgs's own PowerShell; the paths, the task and log names and the command line that
//! starts it are Packer's, so a machine prepared for Packer (antivirus exclusions for
//! `C:/Windows/Temp/packer-*`, say) sees the same. No Windows runs here: the tests check what is
//! uploaded and sent, not the task scheduler.

use crate::communicator::Communicator;
use crate::error::ProvisionError;
use crate::settings::{Elevated, powershell_escape};

/// Uploads the wrapper for `command` and returns the command that runs it.
pub(super) async fn wrap(
    comm: &dyn Communicator,
    command: &str,
    elevated: &Elevated,
) -> Result<String, ProvisionError> {
    let id = uuid::Uuid::new_v4();
    let task = format!("packer-{id}");
    let path = format!(
        "C:/Windows/Temp/packer-elevated-shell-{}.ps1",
        uuid::Uuid::new_v4()
    );
    let script = wrapper(command, &task, &path, elevated);
    super::guest::upload_bytes(
        comm,
        script.as_bytes(),
        &path,
        "the elevated command's wrapper",
    )
    .await?;
    Ok(format!(
        "powershell -executionpolicy bypass -file \"{path}\""
    ))
}

/// The wrapper script: `command`'s output goes to a log file beside it, which the wrapper relays.
fn wrapper(command: &str, task: &str, path: &str, elevated: &Elevated) -> String {
    let log = format!("%SYSTEMROOT%/Temp/{task}.out");
    let action = xml_escape(&format!("{command} > {log} 2>&1"));
    let user = powershell_escape(&elevated.user);
    let password = powershell_escape(&elevated.password);
    let principal = xml_escape(&elevated.user);
    format!(
        r#"$task = "{task}"
$log = [System.Environment]::ExpandEnvironmentVariables("{log}")
$self = [System.Environment]::ExpandEnvironmentVariables("{path}")
$user = "{user}"
$password = "{password}"
$definition = [xml]@'
<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo><Description>imgs elevated command</Description></RegistrationInfo>
  <Principals>
    <Principal id="Runner">
      <UserId>{principal}</UserId>
      <LogonType>Password</LogonType>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
  </Settings>
  <Actions Context="Runner">
    <Exec>
      <Command>cmd</Command>
      <Arguments>/c {action}</Arguments>
    </Exec>
  </Actions>
</Task>
'@
# Without a password the task runs as a service account (SYSTEM, say): no logon type in the XML.
$logonType = 1
if ($password.Length -eq 0) {{
  $logonType = 5
  $password = $null
  $names = New-Object System.Xml.XmlNamespaceManager($definition.NameTable)
  $names.AddNamespace("t", $definition.DocumentElement.NamespaceURI)
  $node = $definition.SelectSingleNode("/t:Task/t:Principals/t:Principal/t:LogonType", $names)
  $node.ParentNode.RemoveChild($node) | Out-Null
}}
if (Test-Path variable:global:ProgressPreference) {{ $ProgressPreference = "SilentlyContinue" }}
$scheduler = New-Object -ComObject "Schedule.Service"
$scheduler.Connect()
$folder = $scheduler.GetFolder("\")
$definitionObject = $scheduler.NewTask($null)
$definitionObject.XmlText = $definition.OuterXml
$folder.RegisterTaskDefinition($task, $definitionObject, 6, $user, $password, $logonType, $null) | Out-Null
$registered = $folder.GetTask("\$task")
$registered.Run($null) | Out-Null
# State 4 is running, 3 is ready (finished); relay the log until the task is done.
$waited = 0
while (($registered.State -ne 4) -and ($waited -lt 10)) {{ Start-Sleep -Seconds 1; $waited++ }}
$relayed = 0
do {{
  Start-Sleep -Milliseconds 100
  if (Test-Path $log) {{
    Get-Content $log | Select-Object -Skip $relayed | ForEach-Object {{ $relayed++; Write-Output "$_" }}
  }}
}} while ($registered.State -ne 3)
$result = $registered.LastTaskResult
Remove-Item $log -Force -ErrorAction SilentlyContinue | Out-Null
Remove-Item $self -Force -ErrorAction SilentlyContinue | Out-Null
$folder.DeleteTask("\$task", 0)
[System.Runtime.Interopservices.Marshal]::ReleaseComObject($scheduler) | Out-Null
exit $result
"#
    )
}

/// Text as XML character data.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_and_the_user_are_escaped_where_they_go() {
        let script = wrapper(
            "powershell \"& { x }\" <in",
            "packer-1",
            "C:/Windows/Temp/w.ps1",
            &Elevated {
                user: "ad\"min".to_string(),
                password: "pa$s".to_string(),
            },
        );
        assert!(script.contains(
            "<Arguments>/c powershell &#34;&amp; { x }&#34; &lt;in &gt; %SYSTEMROOT%/Temp/packer-1.out 2&gt;&amp;1</Arguments>"
        ));
        assert!(script.contains("$user = \"ad`\"min\""));
        assert!(script.contains("$password = \"pa`$s\""));
        assert!(script.contains("<UserId>ad&#34;min</UserId>"));
    }
}
