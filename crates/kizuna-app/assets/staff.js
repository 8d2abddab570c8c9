// Kizuna staff console: the page. It talks only to the local
// `kizuna staff console` process (same origin), which holds the staff
// session. No framework, no network beyond that origin. Everything shown
// that came from the API (handles, names, notes, message texts) is untrusted
// and is only ever set as textContent.
'use strict';

(() => {
  // ---------------------------------------------------------------------
  // Strings
  // ---------------------------------------------------------------------
  const STRINGS = {
    en: {
      appName: 'Kizuna staff',
      language: 'Language',
      sections: 'Sections',
      loading: 'Loading…',
      refresh: 'Refresh',
      cancel: 'Cancel',
      yes: 'Yes',
      no: 'No',
      none: 'None',
      networkError: 'Could not reach the staff console process on this computer.',
      loadFailed: 'Could not load this: {msg}',
      actionFailed: 'That did not work: {msg}',
      sessionTitle: 'Session ended',
      sessionEnded: 'This page’s session ended; open the address `kizuna staff console` printed again.',
      staffExpired: 'Your staff session has ended. Sign in again to continue.',
      // login
      loginTitle: 'Staff sign-in',
      loginExplain: 'Sign in with your staff ID, your password and the current code from your authenticator app.',
      loginStaffId: 'Staff ID',
      loginPassword: 'Password',
      loginTotp: 'Authenticator code',
      loginSubmit: 'Sign in',
      loginBusy: 'Signing in…',
      loginNeedAll: 'Enter your staff ID, password and the 6-digit code.',
      loginFailed: 'Sign-in refused: {msg}',
      whoami: '{staff} · {org}',
      whoamiUntil: 'Session until {time}',
      logout: 'Sign out',
      logoutNotOnNode: 'Signed out here, but the node could not be told: the session stays valid there until it expires.',
      // nav
      navGrants: 'Grants',
      navRead: 'Governed read',
      navAlerts: 'Alerts',
      navReviews: 'Reviews',
      navReports: 'Reports',
      navBreach: 'Breach scope',
      // grants
      grantsTitle: 'Grants and requests',
      grantsExplain: 'Your own requests, and the requests you may decide. Nobody may approve their own request.',
      grantsNone: 'No grants or requests.',
      grantsMine: 'My requests',
      grantsOthers: 'Requests by others',
      grantBy: '{staff} of {org}',
      grantSubjects: 'People',
      grantRegions: 'Regions',
      grantFields: 'Fields',
      grantPurpose: 'Purpose',
      grantTicket: 'Ticket',
      grantReason: 'Reason',
      grantDuration: 'Duration',
      grantRequested: 'Requested',
      grantDecided: 'Decided by {who} on {time}',
      grantExpires: 'Expires',
      grantConsented: 'Agreed',
      grantDeclined: 'Declined',
      breakGlass: 'Break-glass',
      minutes: '{n} min',
      hours: '{n} h',
      gstate_pending: 'Waiting for approval',
      gstate_approved: 'Approved',
      gstate_live: 'Live',
      gstate_approved_over: 'Approved (time is up)',
      gstate_denied: 'Denied',
      gstate_revoked: 'Revoked',
      gstate_expired: 'Expired',
      ownPending: 'Waiting for another approver.',
      approve: 'Approve',
      deny: 'Deny',
      denyQuestion: 'Deny this request?',
      revoke: 'Revoke',
      revokeQuestion: 'Revoke this grant? It stops working at once.',
      newGrantTitle: 'Request access',
      newGrantExplain: 'Ask for the least you need. Another approver must agree, and every read is recorded in each person’s access log.',
      subjectsLabel: 'People (handles, separated by commas)',
      regionsLabel: 'Regions (for abuse reports, separated by commas)',
      fieldsLabel: 'Fields',
      purposeLabel: 'Purpose',
      ticketLabel: 'Ticket',
      reasonLabel: 'Reason',
      durationLabel: 'Duration (minutes)',
      breakGlassLabel: 'Break-glass (emergency access; it is reviewed afterwards)',
      grantSubmit: 'Send request',
      grantSent: 'Request {id} sent.',
      needSubjects: 'Enter at least one handle, or regions for abuse reports.',
      needFields: 'Choose at least one field.',
      needTicket: 'Enter a ticket.',
      needReason: 'Enter a reason.',
      needDuration: 'Enter a duration in minutes.',
      purpose_CUSTOMER_SUPPORT: 'Customer support',
      purpose_ABUSE_REPORT_REVIEW: 'Abuse report review',
      purpose_LEGAL_REQUEST: 'Legal request',
      purpose_INCIDENT_RESPONSE: 'Incident response',
      purpose_SERVICE_MAINTENANCE: 'Service maintenance',
      field_name: 'Name',
      field_phone: 'Phone number',
      field_email: 'Email address',
      field_contacts: 'Contacts',
      field_reports: 'Abuse reports (by region)',
      role_support: 'Support',
      role_moderator: 'Moderator',
      role_approver: 'Approver',
      role_security: 'Security',
      role_admin: 'Admin',
      // read
      readTitle: 'Governed read',
      readExplain: 'See a person’s data under a live grant. Only the fields granted are shown.',
      readLogged: 'This read was recorded in {subject}’s access log, under grant {grant}.',
      readHandle: 'Handle',
      readSubmit: 'Read',
      readNeedHandle: 'Enter a handle.',
      readSubject: 'Person',
      readRegion: 'Home region',
      readGrant: 'Grant used',
      readNoFields: 'The grant covers none of this person’s fields.',
      readMasked: 'Not granted (masked): {value}',
      readFieldsTitle: 'Granted fields',
      // alerts
      alertsTitle: 'Alerts',
      alertsExplain: 'Unusual staff activity the service raised.',
      alertsNone: 'No alerts.',
      // reviews
      reviewsTitle: 'Break-glass reviews',
      reviewsExplain: 'Every break-glass access must be reviewed by someone else with the security or admin role.',
      reviewsNone: 'No reviews.',
      reviewOpen: 'Waiting for review',
      reviewDone: 'Reviewed',
      reviewGrant: 'Grant {id}',
      reviewBy: '{staff} of {org}',
      reviewOpened: 'Opened',
      reviewCompletedBy: 'Reviewed by',
      reviewCompletedAt: 'Reviewed on',
      reviewJustified: 'Justified',
      reviewNote: 'Note',
      reviewOwn: 'This was your access: someone else must review it.',
      reviewQuestion: 'Was this access justified?',
      reviewJustifiedYes: 'Yes, it was justified',
      reviewJustifiedNo: 'No, it was not justified',
      reviewNoteLabel: 'Note (what you checked, what follows)',
      reviewSubmit: 'Complete review',
      reviewNeedAnswer: 'Choose whether it was justified and write a note.',
      // reports
      reportsTitle: 'Reports queue',
      reportsExplain: 'Opening a report uses a grant over its region’s reports, and is recorded.',
      reportsFilter: 'Show',
      filter_open: 'Open',
      filter_appealed: 'Appealed',
      filter_resolved: 'Resolved',
      filter_all: 'All',
      reportsNone: 'No reports here.',
      reportOpen: 'Open',
      reportTitle: 'Report {id}',
      reportRegion: 'Region',
      reportCreated: 'Filed',
      reportReason: 'Reason',
      reportState: 'Status',
      reportNote: 'Reporter’s note',
      reportChat: 'Chat',
      reportReported: 'Reported person',
      reportGrant: 'Opened under grant',
      reportMessages: 'Messages (the reported one last)',
      reportReportedMsg: 'Reported message',
      reportOutcome: 'Decision',
      reportAppeal: 'Appeal',
      reportClose: 'Close',
      rstate_open: 'Open',
      rstate_appealed: 'Appealed',
      rstate_resolved: 'Resolved',
      reason_spam: 'Spam or scam',
      reason_harassment: 'Harassment or bullying',
      reason_illegal: 'Illegal content',
      reason_other: 'Something else',
      resolveTitle: 'Decide',
      resolveAction: 'Action',
      resolveReason: 'Reason (the reported person will read this)',
      resolveDays: 'For how many days (empty: no end)',
      resolveSubmit: 'Resolve',
      resolveNeedReason: 'Write the reason the person will read.',
      resolveDone: 'The report was resolved.',
      action_none: 'No action',
      action_warn: 'Warning',
      action_restrict: 'Restrict sending',
      action_suspend: 'Suspend the account',
      outcomeUntil: 'until {time}',
      outcomeOnAppeal: 'on appeal',
      // breach
      breachTitle: 'Breach scope',
      breachExplain: 'Whose data was read under a set of credentials in a time window, from the transparency ledger.',
      breachOrg: 'Organisation ID',
      breachStaff: 'Staff ID',
      breachFrom: 'From (empty: from the beginning)',
      breachTo: 'To (empty: until now)',
      breachSubmit: 'Compute scope',
      breachBusy: 'Computing…',
      breachNeedWho: 'Enter an organisation ID or a staff ID.',
      breachBadWindow: '“From” must be before “To”.',
      breachTotal: 'People affected',
      breachReads: 'Reads',
      breachRegions: 'Regions',
      breachOrgs: 'Organisations',
      breachStaffList: 'Staff members',
      breachLedger: 'Ledger size when scoped',
      breachScoped: 'Scoped by {who} on {time}',
      breachPerRegion: 'People affected per region',
      breachPerField: 'People affected per field',
      breachPeople: 'Affected people',
      breachPeopleMore: 'Showing the first {shown} of {n}.',
      breachNoPeople: 'No one’s data was read under these credentials in this window.',
      breachDrafts: 'Downloads',
      breachDraftFor: 'Regulator report draft: {region}',
      breachScopeJson: 'The scope as JSON',
      suspendedTag: 'Suspended',
      col_handle: 'Handle',
      col_region: 'Region',
      col_fields: 'Fields',
      col_reads: 'Reads',
      col_first: 'First read',
      col_last: 'Last read',
      col_staff: 'Staff',
      col_orgs: 'Organisations',
      key_at: 'When',
      key_kind: 'Kind',
      key_staff_id: 'Staff member',
      key_org_id: 'Organisation',
      key_detail: 'Details',
    },
    ja: {
      appName: 'Kizuna スタッフ',
      language: '言語',
      sections: 'セクション',
      loading: '読み込み中…',
      refresh: '再読み込み',
      cancel: 'キャンセル',
      yes: 'はい',
      no: 'いいえ',
      none: 'なし',
      networkError: 'このコンピューターのスタッフコンソールに接続できません。',
      loadFailed: '読み込めませんでした：{msg}',
      actionFailed: '操作できませんでした：{msg}',
      sessionTitle: 'セッションが終了しました',
      sessionEnded: 'このページのセッションは終了しました。`kizuna staff console` が表示したアドレスをもう一度開いてください。',
      staffExpired: 'スタッフセッションの有効期限が切れました。続けるにはもう一度サインインしてください。',
      loginTitle: 'スタッフのサインイン',
      loginExplain: 'スタッフ ID、パスワード、認証アプリに表示されている現在のコードでサインインします。',
      loginStaffId: 'スタッフ ID',
      loginPassword: 'パスワード',
      loginTotp: '認証コード',
      loginSubmit: 'サインイン',
      loginBusy: 'サインイン中…',
      loginNeedAll: 'スタッフ ID、パスワード、6 桁のコードを入力してください。',
      loginFailed: 'サインインできませんでした：{msg}',
      whoami: '{staff}（{org}）',
      whoamiUntil: '{time} まで有効',
      logout: 'サインアウト',
      logoutNotOnNode: 'この端末ではサインアウトしましたが、ノードに届きませんでした。セッションは期限までノード上で有効です。',
      navGrants: 'アクセス権',
      navRead: '閲覧',
      navAlerts: 'アラート',
      navReviews: 'レビュー',
      navReports: '通報',
      navBreach: '漏えい範囲',
      grantsTitle: 'アクセス権とリクエスト',
      grantsExplain: '自分のリクエストと、自分が判断できるリクエストです。自分のリクエストを自分で承認することはできません。',
      grantsNone: 'アクセス権もリクエストもありません。',
      grantsMine: '自分のリクエスト',
      grantsOthers: 'ほかの人のリクエスト',
      grantBy: '{org} の {staff}',
      grantSubjects: '対象者',
      grantRegions: '地域',
      grantFields: '項目',
      grantPurpose: '目的',
      grantTicket: 'チケット',
      grantReason: '理由',
      grantDuration: '期間',
      grantRequested: 'リクエスト日時',
      grantDecided: '{who} が {time} に判断',
      grantExpires: '有効期限',
      grantConsented: '同意した人',
      grantDeclined: '拒否した人',
      breakGlass: '緊急アクセス',
      minutes: '{n} 分',
      hours: '{n} 時間',
      gstate_pending: '承認待ち',
      gstate_approved: '承認済み',
      gstate_live: '有効',
      gstate_approved_over: '承認済み（期間終了）',
      gstate_denied: '却下',
      gstate_revoked: '取り消し済み',
      gstate_expired: '期限切れ',
      ownPending: 'ほかの承認者の判断を待っています。',
      approve: '承認',
      deny: '却下',
      denyQuestion: 'このリクエストを却下しますか？',
      revoke: '取り消す',
      revokeQuestion: 'このアクセス権を取り消しますか？すぐに使えなくなります。',
      newGrantTitle: 'アクセスをリクエスト',
      newGrantExplain: '必要最小限だけを求めてください。ほかの承認者の同意が必要で、閲覧はすべて本人のアクセス記録に残ります。',
      subjectsLabel: '対象者（ハンドル、カンマ区切り）',
      regionsLabel: '地域（通報の場合、カンマ区切り）',
      fieldsLabel: '項目',
      purposeLabel: '目的',
      ticketLabel: 'チケット',
      reasonLabel: '理由',
      durationLabel: '期間（分）',
      breakGlassLabel: '緊急アクセス（あとでレビューされます）',
      grantSubmit: 'リクエストを送信',
      grantSent: 'リクエスト {id} を送信しました。',
      needSubjects: 'ハンドルを 1 つ以上、または通報の場合は地域を入力してください。',
      needFields: '項目を 1 つ以上選んでください。',
      needTicket: 'チケットを入力してください。',
      needReason: '理由を入力してください。',
      needDuration: '期間を分単位で入力してください。',
      purpose_CUSTOMER_SUPPORT: 'カスタマーサポート',
      purpose_ABUSE_REPORT_REVIEW: '通報の審査',
      purpose_LEGAL_REQUEST: '法的な要請',
      purpose_INCIDENT_RESPONSE: 'インシデント対応',
      purpose_SERVICE_MAINTENANCE: 'サービスの保守',
      field_name: '名前',
      field_phone: '電話番号',
      field_email: 'メールアドレス',
      field_contacts: '連絡先',
      field_reports: '通報（地域単位）',
      role_support: 'サポート',
      role_moderator: 'モデレーター',
      role_approver: '承認者',
      role_security: 'セキュリティ',
      role_admin: '管理者',
      readTitle: '管理された閲覧',
      readExplain: '有効なアクセス権のもとで個人のデータを見ます。表示されるのは許可された項目だけです。',
      readLogged: 'この閲覧は、アクセス権 {grant} のもとで {subject} さんのアクセス記録に残りました。',
      readHandle: 'ハンドル',
      readSubmit: '閲覧',
      readNeedHandle: 'ハンドルを入力してください。',
      readSubject: '対象者',
      readRegion: '居住地域',
      readGrant: '使用したアクセス権',
      readNoFields: 'このアクセス権では、この人の項目はどれも見られません。',
      readMasked: '許可なし（マスク済み）：{value}',
      readFieldsTitle: '許可された項目',
      alertsTitle: 'アラート',
      alertsExplain: 'サービスが検知した、スタッフの通常と異なる操作です。',
      alertsNone: 'アラートはありません。',
      reviewsTitle: '緊急アクセスのレビュー',
      reviewsExplain: '緊急アクセスはすべて、セキュリティまたは管理者の権限を持つ別の人がレビューする必要があります。',
      reviewsNone: 'レビューはありません。',
      reviewOpen: 'レビュー待ち',
      reviewDone: 'レビュー済み',
      reviewGrant: 'アクセス権 {id}',
      reviewBy: '{org} の {staff}',
      reviewOpened: '開始日時',
      reviewCompletedBy: 'レビューした人',
      reviewCompletedAt: 'レビュー日時',
      reviewJustified: '正当性',
      reviewNote: 'メモ',
      reviewOwn: 'これはあなた自身のアクセスです。別の人がレビューする必要があります。',
      reviewQuestion: 'このアクセスは正当でしたか？',
      reviewJustifiedYes: 'はい、正当でした',
      reviewJustifiedNo: 'いいえ、正当ではありませんでした',
      reviewNoteLabel: 'メモ（確認した内容と今後の対応）',
      reviewSubmit: 'レビューを完了',
      reviewNeedAnswer: '正当だったかを選び、メモを書いてください。',
      reportsTitle: '通報の一覧',
      reportsExplain: '通報を開くには、その地域の通報に対するアクセス権を使います。開いた記録は残ります。',
      reportsFilter: '表示',
      filter_open: '未対応',
      filter_appealed: '異議申し立て',
      filter_resolved: '対応済み',
      filter_all: 'すべて',
      reportsNone: 'ここに通報はありません。',
      reportOpen: '開く',
      reportTitle: '通報 {id}',
      reportRegion: '地域',
      reportCreated: '通報日時',
      reportReason: '理由',
      reportState: '状態',
      reportNote: '通報者のメモ',
      reportChat: 'トーク',
      reportReported: '通報された人',
      reportGrant: '使用したアクセス権',
      reportMessages: 'メッセージ（最後が通報されたもの）',
      reportReportedMsg: '通報されたメッセージ',
      reportOutcome: '判断',
      reportAppeal: '異議申し立て',
      reportClose: '閉じる',
      rstate_open: '未対応',
      rstate_appealed: '異議申し立て中',
      rstate_resolved: '対応済み',
      reason_spam: 'スパム・詐欺',
      reason_harassment: '嫌がらせ・いじめ',
      reason_illegal: '違法なコンテンツ',
      reason_other: 'その他',
      resolveTitle: '判断する',
      resolveAction: '対応',
      resolveReason: '理由（通報された人に表示されます）',
      resolveDays: '日数（空欄は期限なし）',
      resolveSubmit: '対応を確定',
      resolveNeedReason: '相手に表示する理由を書いてください。',
      resolveDone: '通報への対応を確定しました。',
      action_none: '対応なし',
      action_warn: '警告',
      action_restrict: '送信を制限',
      action_suspend: 'アカウントを停止',
      outcomeUntil: '{time} まで',
      outcomeOnAppeal: '異議申し立てへの判断',
      breachTitle: '漏えい範囲の調査',
      breachExplain: 'ある認証情報で、ある期間に誰のデータが読まれたかを透明性台帳から調べます。',
      breachOrg: '組織 ID',
      breachStaff: 'スタッフ ID',
      breachFrom: '開始（空欄は最初から）',
      breachTo: '終了（空欄は現在まで）',
      breachSubmit: '範囲を調べる',
      breachBusy: '調査中…',
      breachNeedWho: '組織 ID かスタッフ ID を入力してください。',
      breachBadWindow: '開始は終了より前にしてください。',
      breachTotal: '影響を受けた人数',
      breachReads: '閲覧回数',
      breachRegions: '地域',
      breachOrgs: '組織',
      breachStaffList: 'スタッフ',
      breachLedger: '調査時の台帳サイズ',
      breachScoped: '{who} が {time} に調査',
      breachPerRegion: '地域ごとの影響人数',
      breachPerField: '項目ごとの影響人数',
      breachPeople: '影響を受けた人',
      breachPeopleMore: '{n} 人のうち最初の {shown} 人を表示しています。',
      breachNoPeople: 'この期間、この認証情報で読まれたデータはありません。',
      breachDrafts: 'ダウンロード',
      breachDraftFor: '監督機関への報告書案：{region}',
      breachScopeJson: '調査結果（JSON）',
      suspendedTag: '停止中',
      col_handle: 'ハンドル',
      col_region: '地域',
      col_fields: '項目',
      col_reads: '閲覧回数',
      col_first: '最初の閲覧',
      col_last: '最後の閲覧',
      col_staff: 'スタッフ',
      col_orgs: '組織',
      key_at: '日時',
      key_kind: '種類',
      key_staff_id: 'スタッフ',
      key_org_id: '組織',
      key_detail: '詳細',
    },
    ko: {
      appName: 'Kizuna 스태프',
      language: '언어',
      sections: '섹션',
      loading: '불러오는 중…',
      refresh: '새로고침',
      cancel: '취소',
      yes: '예',
      no: '아니요',
      none: '없음',
      networkError: '이 컴퓨터의 스태프 콘솔에 연결할 수 없습니다.',
      loadFailed: '불러올 수 없습니다: {msg}',
      actionFailed: '처리하지 못했습니다: {msg}',
      sessionTitle: '세션이 종료되었습니다',
      sessionEnded: '이 페이지의 세션이 종료되었습니다. `kizuna staff console`이 출력한 주소를 다시 여세요.',
      staffExpired: '스태프 세션이 만료되었습니다. 계속하려면 다시 로그인하세요.',
      loginTitle: '스태프 로그인',
      loginExplain: '스태프 ID, 비밀번호, 인증 앱에 표시된 현재 코드로 로그인하세요.',
      loginStaffId: '스태프 ID',
      loginPassword: '비밀번호',
      loginTotp: '인증 코드',
      loginSubmit: '로그인',
      loginBusy: '로그인 중…',
      loginNeedAll: '스태프 ID, 비밀번호, 6자리 코드를 입력하세요.',
      loginFailed: '로그인이 거부되었습니다: {msg}',
      whoami: '{staff} · {org}',
      whoamiUntil: '{time}까지 유효',
      logout: '로그아웃',
      logoutNotOnNode: '이 기기에서는 로그아웃했지만 노드에 알리지 못했습니다. 세션은 만료될 때까지 노드에서 유효합니다.',
      navGrants: '접근 권한',
      navRead: '열람',
      navAlerts: '경고',
      navReviews: '검토',
      navReports: '신고',
      navBreach: '유출 범위',
      grantsTitle: '접근 권한과 요청',
      grantsExplain: '내 요청과 내가 결정할 수 있는 요청입니다. 자신의 요청은 직접 승인할 수 없습니다.',
      grantsNone: '접근 권한이나 요청이 없습니다.',
      grantsMine: '내 요청',
      grantsOthers: '다른 사람의 요청',
      grantBy: '{org}의 {staff}',
      grantSubjects: '대상자',
      grantRegions: '지역',
      grantFields: '항목',
      grantPurpose: '목적',
      grantTicket: '티켓',
      grantReason: '사유',
      grantDuration: '기간',
      grantRequested: '요청 일시',
      grantDecided: '{who}님이 {time}에 결정',
      grantExpires: '만료',
      grantConsented: '동의한 사람',
      grantDeclined: '거절한 사람',
      breakGlass: '긴급 접근',
      minutes: '{n}분',
      hours: '{n}시간',
      gstate_pending: '승인 대기',
      gstate_approved: '승인됨',
      gstate_live: '사용 가능',
      gstate_approved_over: '승인됨 (기간 종료)',
      gstate_denied: '거부됨',
      gstate_revoked: '철회됨',
      gstate_expired: '만료됨',
      ownPending: '다른 승인자의 결정을 기다리고 있습니다.',
      approve: '승인',
      deny: '거부',
      denyQuestion: '이 요청을 거부할까요?',
      revoke: '철회',
      revokeQuestion: '이 접근 권한을 철회할까요? 즉시 사용할 수 없게 됩니다.',
      newGrantTitle: '접근 요청',
      newGrantExplain: '꼭 필요한 만큼만 요청하세요. 다른 승인자의 동의가 필요하며, 모든 열람은 당사자의 접근 기록에 남습니다.',
      subjectsLabel: '대상자 (핸들, 쉼표로 구분)',
      regionsLabel: '지역 (신고의 경우, 쉼표로 구분)',
      fieldsLabel: '항목',
      purposeLabel: '목적',
      ticketLabel: '티켓',
      reasonLabel: '사유',
      durationLabel: '기간 (분)',
      breakGlassLabel: '긴급 접근 (사후에 검토됩니다)',
      grantSubmit: '요청 보내기',
      grantSent: '요청 {id}을(를) 보냈습니다.',
      needSubjects: '핸들을 하나 이상 입력하거나, 신고의 경우 지역을 입력하세요.',
      needFields: '항목을 하나 이상 선택하세요.',
      needTicket: '티켓을 입력하세요.',
      needReason: '사유를 입력하세요.',
      needDuration: '기간을 분 단위로 입력하세요.',
      purpose_CUSTOMER_SUPPORT: '고객 지원',
      purpose_ABUSE_REPORT_REVIEW: '신고 검토',
      purpose_LEGAL_REQUEST: '법적 요청',
      purpose_INCIDENT_RESPONSE: '보안 사고 대응',
      purpose_SERVICE_MAINTENANCE: '서비스 유지보수',
      field_name: '이름',
      field_phone: '전화번호',
      field_email: '이메일 주소',
      field_contacts: '연락처',
      field_reports: '신고 (지역 단위)',
      role_support: '지원',
      role_moderator: '모더레이터',
      role_approver: '승인자',
      role_security: '보안',
      role_admin: '관리자',
      readTitle: '통제된 열람',
      readExplain: '유효한 접근 권한으로 개인의 데이터를 봅니다. 허가된 항목만 표시됩니다.',
      readLogged: '이 열람은 접근 권한 {grant}에 따라 {subject}님의 접근 기록에 남았습니다.',
      readHandle: '핸들',
      readSubmit: '열람',
      readNeedHandle: '핸들을 입력하세요.',
      readSubject: '대상자',
      readRegion: '거주 지역',
      readGrant: '사용한 접근 권한',
      readNoFields: '이 접근 권한으로는 이 사람의 어떤 항목도 볼 수 없습니다.',
      readMasked: '허가되지 않음 (가려짐): {value}',
      readFieldsTitle: '허가된 항목',
      alertsTitle: '경고',
      alertsExplain: '서비스가 감지한 스태프의 비정상적인 활동입니다.',
      alertsNone: '경고가 없습니다.',
      reviewsTitle: '긴급 접근 검토',
      reviewsExplain: '모든 긴급 접근은 보안 또는 관리자 역할을 가진 다른 사람이 검토해야 합니다.',
      reviewsNone: '검토할 항목이 없습니다.',
      reviewOpen: '검토 대기',
      reviewDone: '검토 완료',
      reviewGrant: '접근 권한 {id}',
      reviewBy: '{org}의 {staff}',
      reviewOpened: '시작 일시',
      reviewCompletedBy: '검토자',
      reviewCompletedAt: '검토 일시',
      reviewJustified: '정당성',
      reviewNote: '메모',
      reviewOwn: '본인의 접근입니다. 다른 사람이 검토해야 합니다.',
      reviewQuestion: '이 접근은 정당했습니까?',
      reviewJustifiedYes: '예, 정당했습니다',
      reviewJustifiedNo: '아니요, 정당하지 않았습니다',
      reviewNoteLabel: '메모 (확인한 내용과 후속 조치)',
      reviewSubmit: '검토 완료',
      reviewNeedAnswer: '정당했는지 선택하고 메모를 작성하세요.',
      reportsTitle: '신고 목록',
      reportsExplain: '신고를 열려면 해당 지역의 신고에 대한 접근 권한이 필요하며, 연 기록이 남습니다.',
      reportsFilter: '표시',
      filter_open: '미처리',
      filter_appealed: '이의 제기',
      filter_resolved: '처리됨',
      filter_all: '전체',
      reportsNone: '신고가 없습니다.',
      reportOpen: '열기',
      reportTitle: '신고 {id}',
      reportRegion: '지역',
      reportCreated: '신고 일시',
      reportReason: '사유',
      reportState: '상태',
      reportNote: '신고자의 메모',
      reportChat: '대화',
      reportReported: '신고된 사람',
      reportGrant: '사용한 접근 권한',
      reportMessages: '메시지 (마지막이 신고된 메시지)',
      reportReportedMsg: '신고된 메시지',
      reportOutcome: '결정',
      reportAppeal: '이의 제기',
      reportClose: '닫기',
      rstate_open: '미처리',
      rstate_appealed: '이의 제기됨',
      rstate_resolved: '처리됨',
      reason_spam: '스팸 또는 사기',
      reason_harassment: '괴롭힘',
      reason_illegal: '불법 콘텐츠',
      reason_other: '기타',
      resolveTitle: '결정하기',
      resolveAction: '조치',
      resolveReason: '사유 (신고된 사람에게 표시됩니다)',
      resolveDays: '일수 (비워 두면 기한 없음)',
      resolveSubmit: '처리하기',
      resolveNeedReason: '상대에게 보여 줄 사유를 작성하세요.',
      resolveDone: '신고를 처리했습니다.',
      action_none: '조치 없음',
      action_warn: '경고',
      action_restrict: '발신 제한',
      action_suspend: '계정 정지',
      outcomeUntil: '{time}까지',
      outcomeOnAppeal: '이의 제기에 대한 결정',
      breachTitle: '유출 범위 조사',
      breachExplain: '특정 인증 정보로 특정 기간에 누구의 데이터가 열람되었는지 투명성 원장에서 조사합니다.',
      breachOrg: '조직 ID',
      breachStaff: '스태프 ID',
      breachFrom: '시작 (비워 두면 처음부터)',
      breachTo: '종료 (비워 두면 지금까지)',
      breachSubmit: '범위 조사',
      breachBusy: '조사 중…',
      breachNeedWho: '조직 ID 또는 스태프 ID를 입력하세요.',
      breachBadWindow: '시작은 종료보다 앞이어야 합니다.',
      breachTotal: '영향받은 사람',
      breachReads: '열람 횟수',
      breachRegions: '지역',
      breachOrgs: '조직',
      breachStaffList: '스태프',
      breachLedger: '조사 시 원장 크기',
      breachScoped: '{who}님이 {time}에 조사',
      breachPerRegion: '지역별 영향받은 사람 수',
      breachPerField: '항목별 영향받은 사람 수',
      breachPeople: '영향받은 사람',
      breachPeopleMore: '{n}명 중 처음 {shown}명을 표시합니다.',
      breachNoPeople: '이 기간에 이 인증 정보로 열람된 데이터가 없습니다.',
      breachDrafts: '다운로드',
      breachDraftFor: '감독 기관 보고서 초안: {region}',
      breachScopeJson: '조사 결과 (JSON)',
      suspendedTag: '정지됨',
      col_handle: '핸들',
      col_region: '지역',
      col_fields: '항목',
      col_reads: '열람 횟수',
      col_first: '첫 열람',
      col_last: '마지막 열람',
      col_staff: '스태프',
      col_orgs: '조직',
      key_at: '일시',
      key_kind: '종류',
      key_staff_id: '스태프',
      key_org_id: '조직',
      key_detail: '세부 정보',
    },
  };
  const LANGS = [['en', 'English'], ['ja', '日本語'], ['ko', '한국어']];
  const LANG_KEY = 'kizuna.staff.lang';

  // From the wire types (kizuna-wire staff.rs / reports.rs).
  const PURPOSES = ['CUSTOMER_SUPPORT', 'ABUSE_REPORT_REVIEW', 'LEGAL_REQUEST', 'INCIDENT_RESPONSE', 'SERVICE_MAINTENANCE'];
  const FIELDS = ['name', 'phone', 'email', 'contacts', 'reports'];
  const READ_FIELDS = ['name', 'phone', 'email', 'contacts'];
  const ACTIONS = ['none', 'warn', 'restrict', 'suspend'];
  const REPORT_FILTERS = ['open', 'appealed', 'resolved', 'all'];
  const PEOPLE_SHOWN = 200;

  function detectLang() {
    try {
      const saved = localStorage.getItem(LANG_KEY);
      if (saved && STRINGS[saved]) return saved;
    } catch (_) { /* storage may be unavailable */ }
    const prefs = (navigator.languages && navigator.languages.length) ? navigator.languages : [navigator.language || 'en'];
    for (const p of prefs) {
      const l = String(p).toLowerCase();
      if (l.startsWith('ja')) return 'ja';
      if (l.startsWith('ko')) return 'ko';
      if (l.startsWith('en')) return 'en';
    }
    return 'en';
  }
  let lang = detectLang();
  let fmt = null;

  function t(key, vars) {
    let s = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    return s;
  }
  // A translated label for a code the server sends, or the code made readable.
  function label(prefix, k) {
    const key = prefix + k;
    return (STRINGS[lang][key] || STRINGS.en[key]) ? t(key) : String(k).replace(/_/g, ' ');
  }
  function makeFormatters() {
    const f = (o) => new Intl.DateTimeFormat(lang, o);
    fmt = {
      dateTime: f({ year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' }),
      time: f({ hour: 'numeric', minute: '2-digit' }),
      num: new Intl.NumberFormat(lang),
    };
  }
  // The API mixes Unix seconds (sessions) and milliseconds (ledger, grants'
  // expiry): anything below 1e11 is taken as seconds.
  function toMs(v) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return null;
    return v < 1e11 ? v * 1000 : v;
  }
  function fmtTime(v) {
    const ms = toMs(v);
    return ms === null ? '—' : fmt.dateTime.format(ms);
  }
  function num(n) { return fmt.num.format(n); }
  function duration(secs) {
    const m = Math.round((Number(secs) || 0) / 60);
    return m >= 120 && m % 60 === 0 ? t('hours', { n: m / 60 }) : t('minutes', { n: m });
  }
  function list(v) { return Array.isArray(v) && v.length ? v.map(String).join(', ') : t('none'); }

  // ---------------------------------------------------------------------
  // DOM helpers (no innerHTML anywhere)
  // ---------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else if (k === 'i18n') { el.dataset.i18n = v; el.textContent = t(v); }
        else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (v === true) el.setAttribute(k, '');
        else el.setAttribute(k, String(v));
      }
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      el.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }
  function withCode(s) {
    const frag = document.createDocumentFragment();
    s.split('`').forEach((part, i) => {
      if (part) frag.append(i % 2 ? h('code', { text: part }) : document.createTextNode(part));
    });
    return frag;
  }
  // rows: [label, string | Node] (null rows are left out)
  function dlRows(rows) {
    const dl = h('dl', { class: 'kv' });
    for (const r of rows) {
      if (!r) continue;
      dl.append(h('div', { class: 'kv-row' }, h('dt', { text: r[0] }), h('dd', {}, typeof r[1] === 'string' ? document.createTextNode(r[1]) : r[1])));
    }
    return dl;
  }
  function isTimeKey(k) { return /(^|_)(at|ms|since|until|time|from|to)$/.test(String(k)); }
  // Any JSON value, readably: for what this page doesn't know the shape of.
  function renderValue(v, key, depth = 0) {
    if (v === null || v === undefined) return h('span', { class: 'muted', text: '—' });
    if (typeof v === 'boolean') return document.createTextNode(t(v ? 'yes' : 'no'));
    if (typeof v === 'number') return document.createTextNode(key && isTimeKey(key) && v > 1e9 ? fmtTime(v) : String(v));
    if (typeof v === 'string') return document.createTextNode(v);
    if (Array.isArray(v)) {
      if (!v.length) return h('span', { class: 'muted', text: t('none') });
      if (v.every((x) => x === null || typeof x !== 'object')) return document.createTextNode(v.map(String).join(', '));
      return h('ul', { class: 'kv-list' }, ...v.map((x) => h('li', {}, renderValue(x, key, depth + 1))));
    }
    if (typeof v === 'object') {
      if (depth > 5) return document.createTextNode('…');
      return dlRows(Object.entries(v).map(([k, x]) => [label('key_', k), renderValue(x, k, depth + 1)]));
    }
    return document.createTextNode(String(v));
  }
  function field(id, labelKey, input, hint) {
    return h('div', { class: 'field' }, h('label', { for: id, i18n: labelKey }), input, hint || null);
  }
  // replaceChildren would print null as text: leave those out.
  function fill(el, ...kids) { el.replaceChildren(...kids.filter((k) => k !== null && k !== undefined && k !== false)); }
  function errorBox() { return h('div', { class: 'error', role: 'alert', 'data-test': 'error' }); }
  function statusLine(st) {
    if (!st || st.status === 'idle') return null;
    if (st.status === 'loading' && st.data == null) return h('p', { class: 'muted', role: 'status', text: t('loading') });
    if (st.status === 'error') return h('p', { class: 'error', role: 'alert', 'data-test': 'error', text: t('loadFailed', { msg: st.error }) });
    return null;
  }
  function splitList(s) { return String(s || '').split(/[,\s、，]+/).map((x) => x.trim()).filter(Boolean); }

  // ---------------------------------------------------------------------
  // API
  // ---------------------------------------------------------------------
  class ApiError extends Error {
    constructor(code, message, status) { super(message); this.code = code; this.status = status; }
  }
  let sessionOver = false;

  // `login`: a refusal is the node's answer to the credentials, not an
  // expired session.
  async function api(method, path, body, { login = false } = {}) {
    if (sessionOver) throw new ApiError('no_session', t('sessionEnded'), 401);
    const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (_) {
      throw new ApiError('network', t('networkError'), 0);
    }
    let data = null;
    const text = await res.text().catch(() => '');
    if (text) { try { data = JSON.parse(text); } catch (_) { data = null; } }
    if (res.ok) return data;
    const code = (data && typeof data.code === 'string' && data.code) || `http_${res.status}`;
    const msg = (data && typeof data.message === 'string' && data.message) || `HTTP ${res.status}`;
    // This page's own session with the local process is gone.
    if (res.status === 401 && (code === 'no_session' || !data)) {
      endSession();
      throw new ApiError('no_session', t('sessionEnded'), 401);
    }
    const err = new ApiError(code, msg, res.status);
    // The node refused because the staff session is over: back to sign-in.
    if (!login && (res.status === 401 || /session|expired|token|login|unauth/i.test(code))) {
      err.staffExpired = true;
      checkStaffSession();
    }
    throw err;
  }
  const q = (obj) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(obj || {})) if (v !== null && v !== undefined && v !== '') p.set(k, String(v));
    const s = p.toString();
    return s ? `?${s}` : '';
  };
  const enc = encodeURIComponent;

  // ---------------------------------------------------------------------
  // State
  // ---------------------------------------------------------------------
  let session = null;      // {staff_id, org_id, roles, expires_at} while signed in
  let current = 'grants';
  const st = {
    grants: { status: 'idle', data: null, error: null },
    alerts: { status: 'idle', data: null, error: null },
    reviews: { status: 'idle', data: null, error: null },
    reports: { status: 'idle', data: null, error: null },
  };
  let readResult = null;   // {read, grant}
  let openedReport = null; // OpenedReport
  let breachScope = null;  // BreachScope
  let expiryTimer = null;
  const itemErrors = new Map(); // key -> message, shown on re-render

  // ---------------------------------------------------------------------
  // Layout
  // ---------------------------------------------------------------------
  const root = document.getElementById('app') || document.body.appendChild(h('div', { id: 'app', class: 'app' }));

  const langSelect = h('select', { id: 'lang-select', 'data-test': 'lang-select' },
    ...LANGS.map(([code, name]) => h('option', { value: code, lang: code, text: name })));
  const langLabel = h('label', { for: 'lang-select', class: 'vh', i18n: 'language' });
  const whoami = h('div', { class: 'whoami', 'data-test': 'whoami', hidden: true });
  const logoutBtn = h('button', { type: 'button', class: 'btn secondary small-btn', 'data-test': 'logout', hidden: true, i18n: 'logout' });
  const NAV = [['grants', 'navGrants'], ['read', 'navRead'], ['alerts', 'navAlerts'], ['reviews', 'navReviews'], ['reports', 'navReports'], ['breach', 'navBreach']];
  const navButtons = {};
  for (const [id, key] of NAV) {
    navButtons[id] = h('button', { type: 'button', class: 'nav-btn', 'data-test': `nav-${id}`, 'aria-controls': `section-${id}`, i18n: key });
    navButtons[id].addEventListener('click', () => showSection(id, { focus: true, reload: true }));
  }
  const nav = h('nav', { class: 'main-nav', hidden: true, 'data-i18n-aria': 'sections' }, ...Object.values(navButtons));
  const header = h('header', { class: 'topbar' },
    h('div', { class: 'topbar-row' },
      h('h1', { class: 'brand', i18n: 'appName' }),
      h('span', { class: 'spacer' }),
      whoami, logoutBtn, langLabel, langSelect),
    nav);

  // Sign-in
  const loginId = h('input', { id: 'login-id', type: 'text', 'data-test': 'login-staff-id', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true });
  const loginPw = h('input', { id: 'login-pw', type: 'password', 'data-test': 'login-password', autocomplete: 'current-password', required: true });
  const loginTotp = h('input', { id: 'login-totp', type: 'text', 'data-test': 'login-totp', autocomplete: 'one-time-code', inputmode: 'numeric', pattern: '[0-9]*', maxlength: '8', required: true });
  const loginError = h('div', { class: 'error', role: 'alert', 'data-test': 'login-error' });
  const loginSubmit = h('button', { type: 'submit', class: 'btn', 'data-test': 'login-submit', i18n: 'loginSubmit' });
  const loginForm = h('form', { class: 'login-form card-section', 'data-test': 'login-form', novalidate: true, 'aria-labelledby': 'login-title' },
    h('h2', { id: 'login-title', i18n: 'loginTitle' }),
    h('p', { class: 'muted', i18n: 'loginExplain' }),
    field('login-id', 'loginStaffId', loginId),
    field('login-pw', 'loginPassword', loginPw),
    field('login-totp', 'loginTotp', loginTotp),
    loginError,
    h('div', { class: 'actions' }, loginSubmit));
  const loginView = h('main', { class: 'page login-page', hidden: true }, h('div', { class: 'page-inner narrow' }, loginForm));

  // Sections
  const sections = {};
  const sectionBodies = {};
  for (const [id] of NAV) {
    const body = h('div', { class: 'page-inner' });
    sectionBodies[id] = body;
    sections[id] = h('main', { class: 'page', id: `section-${id}`, 'data-section': id, 'data-test': `section-${id}`, hidden: true }, body);
  }
  const sessionNotice = h('div', { class: 'session-ended', hidden: true, role: 'alert', 'data-test': 'session-ended' });
  const live = h('div', { class: 'vh', 'aria-live': 'polite', 'aria-atomic': 'true' });
  root.append(header, loginView, ...Object.values(sections), live, sessionNotice);

  function announce(text) { live.textContent = ''; setTimeout(() => { live.textContent = text; }, 30); }

  // ---------------------------------------------------------------------
  // Language
  // ---------------------------------------------------------------------
  function applyLang() {
    document.documentElement.lang = lang;
    langSelect.value = lang;
    makeFormatters();
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
    for (const el of document.querySelectorAll('[data-i18n-ph]')) el.setAttribute('placeholder', t(el.dataset.i18nPh));
    document.title = t('appName');
    if (sessionOver) renderSessionNotice();
    renderWhoami();
  }
  langSelect.addEventListener('change', () => {
    if (!STRINGS[langSelect.value]) return;
    lang = langSelect.value;
    try { localStorage.setItem(LANG_KEY, lang); } catch (_) { /* ignore */ }
    applyLang();
    if (session) renderSection(current);
  });

  // ---------------------------------------------------------------------
  // Sessions
  // ---------------------------------------------------------------------
  function renderSessionNotice() {
    sessionNotice.replaceChildren(h('div', { class: 'card' },
      h('h1', { text: t('sessionTitle') }),
      h('p', {}, withCode(t('sessionEnded')))));
  }
  function endSession() {
    if (sessionOver) return;
    sessionOver = true;
    root.dataset.state = 'ended';
    clearTimeout(expiryTimer);
    header.hidden = true;
    loginView.hidden = true;
    for (const s of Object.values(sections)) s.hidden = true;
    renderSessionNotice();
    sessionNotice.hidden = false;
  }
  function renderWhoami() {
    if (!session) { whoami.replaceChildren(); return; }
    const roles = Array.isArray(session.roles) && session.roles.length ? ` · ${session.roles.map((r) => label('role_', r)).join(', ')}` : '';
    whoami.replaceChildren(
      h('span', { class: 'who', 'data-staff': session.staff_id, text: t('whoami', { staff: session.staff_id, org: session.org_id }) + roles }),
      h('span', { class: 'until', 'data-expires': String(toMs(session.expires_at) || ''), text: t('whoamiUntil', { time: fmtTime(session.expires_at) }) }));
  }
  function showLogin(message) {
    session = null;
    clearTimeout(expiryTimer);
    nav.hidden = true;
    whoami.hidden = true;
    logoutBtn.hidden = true;
    for (const s of Object.values(sections)) s.hidden = true;
    loginView.hidden = false;
    root.dataset.state = 'login';
    loginError.textContent = message || '';
    loginPw.value = '';
    loginTotp.value = '';
    loginSubmit.disabled = false;
    loginSubmit.textContent = t('loginSubmit');
    (loginId.value ? loginPw : loginId).focus();
  }
  function signedIn(s) {
    session = s;
    for (const k of Object.keys(st)) st[k] = { status: 'idle', data: null, error: null };
    readResult = null; openedReport = null; breachScope = null; itemErrors.clear();
    loginView.hidden = true;
    root.dataset.state = 'console';
    nav.hidden = false;
    whoami.hidden = false;
    logoutBtn.hidden = false;
    renderWhoami();
    // When the staff session runs out, ask again rather than fail later.
    clearTimeout(expiryTimer);
    const exp = toMs(s.expires_at);
    if (exp) expiryTimer = setTimeout(checkStaffSession, Math.min(Math.max(exp - Date.now() + 500, 1000), 2 ** 31 - 1));
    showSection(current, { reload: true });
  }
  let checking = null;
  function checkStaffSession() {
    if (checking || sessionOver) return checking;
    checking = (async () => {
      try {
        const s = await api('GET', '/api/session');
        const exp = s && toMs(s.expires_at);
        if (!s || !s.logged_in || (exp && exp <= Date.now())) {
          if (session) showLogin(t('staffExpired'));
        }
      } catch (_) { /* shown elsewhere */ } finally { checking = null; }
    })();
    return checking;
  }

  loginForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { staff_id: loginId.value.trim(), password: loginPw.value, totp: loginTotp.value.replace(/\s+/g, '') };
    if (!body.staff_id || !body.password || !body.totp) { loginError.textContent = t('loginNeedAll'); return; }
    loginError.textContent = '';
    loginSubmit.disabled = true;
    loginSubmit.textContent = t('loginBusy');
    try {
      const s = await api('POST', '/api/login', body, { login: true });
      if (!s || !s.logged_in) throw new ApiError('refused', 'not signed in', 401);
      loginPw.value = '';
      loginTotp.value = '';
      signedIn(s);
    } catch (err) {
      if (err.code !== 'no_session' || !sessionOver) {
        loginError.textContent = t('loginFailed', { msg: err.message });
        loginTotp.value = '';
        loginTotp.focus();
      }
    } finally {
      loginSubmit.disabled = false;
      loginSubmit.textContent = t('loginSubmit');
    }
  });
  logoutBtn.addEventListener('click', async () => {
    logoutBtn.disabled = true;
    let message = '';
    try {
      const r = await api('POST', '/api/logout', {});
      if (r && r.ended_on_node === false) message = t('logoutNotOnNode');
    } catch (_) { message = t('logoutNotOnNode'); }
    logoutBtn.disabled = false;
    if (!sessionOver) showLogin(message);
  });

  // ---------------------------------------------------------------------
  // Sections
  // ---------------------------------------------------------------------
  function showSection(id, { focus = false, reload = false } = {}) {
    current = id;
    for (const [k, el] of Object.entries(sections)) el.hidden = k !== id;
    for (const [k, b] of Object.entries(navButtons)) {
      if (k === id) b.setAttribute('aria-current', 'page'); else b.removeAttribute('aria-current');
    }
    if (reload) loadSection(id);
    renderSection(id);
    if (focus) {
      const hd = sections[id].querySelector('h2');
      if (hd) hd.focus({ preventScroll: false });
    }
  }
  const LOADERS = {
    grants: () => api('GET', '/api/grants'),
    alerts: () => api('GET', '/api/alerts'),
    reviews: () => api('GET', '/api/reviews'),
    reports: () => api('GET', `/api/reports${q({ state: reportFilter.value })}`),
  };
  async function loadSection(id) {
    const loader = LOADERS[id];
    if (!loader) return;
    const s = st[id];
    const token = (s.token || 0) + 1;
    s.token = token;
    s.status = 'loading';
    try {
      const data = await loader();
      if (s.token !== token) return;
      s.data = Array.isArray(data) ? data : [];
      s.status = 'ok';
      s.error = null;
    } catch (e) {
      if (s.token !== token) return;
      s.status = 'error';
      s.error = e.message;
    }
    if (session && current === id) renderSection(id);
  }
  function renderSection(id) {
    if (!session) return;
    const body = sectionBodies[id];
    // Keep focus where it was when the section re-renders.
    const active = document.activeElement;
    const activeKey = active && body.contains(active) ? active.dataset.focusKey : null;
    RENDER[id](body);
    if (activeKey) {
      const again = body.querySelector(`[data-focus-key="${CSS.escape(activeKey)}"]`);
      if (again) again.focus();
    }
  }
  function head(titleKey, explainKey, extra) {
    return [
      h('div', { class: 'section-head' }, h('h2', { tabindex: '-1', i18n: titleKey }), extra || null),
      explainKey ? h('p', { class: 'muted intro', i18n: explainKey }) : null,
    ];
  }
  function refreshButton(id) {
    return h('button', { type: 'button', class: 'btn secondary small-btn', 'data-test': `${id}-refresh`, 'data-focus-key': `${id}-refresh`, i18n: 'refresh',
      onclick: () => loadSection(id) });
  }
  // Runs an action for a button; a failure is shown under the item.
  async function act(btn, errKey, fn) {
    btn.disabled = true;
    itemErrors.delete(errKey);
    try {
      await fn();
    } catch (e) {
      if (e.code === 'no_session') return;
      itemErrors.set(errKey, t('actionFailed', { msg: e.message }));
      btn.disabled = false;
      renderSection(current);
      const again = document.querySelector(`[data-err-key="${CSS.escape(errKey)}"]`);
      if (again) announce(again.textContent);
    }
  }
  function itemError(key) {
    const box = errorBox();
    box.dataset.errKey = key;
    box.textContent = itemErrors.get(key) || '';
    return box;
  }
  function confirmIn(box, trigger, { question, confirm, hook, onConfirm }) {
    const before = [...box.childNodes];
    const yes = h('button', { type: 'button', class: 'btn danger small-btn', 'data-test': hook, text: confirm });
    const no = h('button', { type: 'button', class: 'btn secondary small-btn', text: t('cancel') });
    const restore = () => { box.replaceChildren(...before); if (trigger.isConnected) trigger.focus(); };
    no.addEventListener('click', restore);
    box.addEventListener('keydown', function esc(ev) {
      if (ev.key === 'Escape' && no.isConnected) { ev.preventDefault(); box.removeEventListener('keydown', esc); restore(); }
    });
    yes.addEventListener('click', onConfirm(yes));
    box.replaceChildren(h('span', { class: 'confirm-q', text: question }), no, yes);
    no.focus();
  }

  // ---- grants ----
  function grantLive(g) {
    const exp = toMs(g.expires_at);
    return g.state === 'approved' && exp !== null && Date.now() < exp;
  }
  function grantStateLabel(g) {
    if (g.state === 'approved') return grantLive(g) ? `${t('gstate_live')} · ${fmtTime(g.expires_at)}` : t('gstate_approved_over');
    return label('gstate_', g.state);
  }
  async function grantAction(g, what) {
    const updated = await api('POST', `/api/grants/${enc(g.grant_id)}/${what}`, {});
    const arr = st.grants.data || [];
    const i = arr.findIndex((x) => x.grant_id === g.grant_id);
    if (updated && updated.grant_id) { if (i >= 0) arr[i] = updated; else arr.unshift(updated); }
    announce(`${g.grant_id}: ${updated ? grantStateLabel(updated) : ''}`);
    renderSection('grants');
    loadSection('grants');
  }
  function renderGrant(g) {
    const mine = g.staff_id === session.staff_id;
    const isLive = grantLive(g);
    const errKey = `grant:${g.grant_id}`;
    const actions = h('div', { class: 'actions start item-actions' });
    if (g.state === 'pending' && !mine) {
      const ap = h('button', { type: 'button', class: 'btn small-btn', 'data-test': 'grant-approve', 'data-focus-key': `approve:${g.grant_id}`, text: t('approve') });
      ap.addEventListener('click', () => act(ap, errKey, () => grantAction(g, 'approve')));
      const dn = h('button', { type: 'button', class: 'btn danger-outline small-btn', 'data-test': 'grant-deny', 'data-focus-key': `deny:${g.grant_id}`, text: t('deny') });
      dn.addEventListener('click', () => confirmIn(actions, dn, {
        question: t('denyQuestion'), confirm: t('deny'), hook: 'grant-deny-confirm',
        onConfirm: (yes) => () => act(yes, errKey, () => grantAction(g, 'deny')),
      }));
      actions.append(ap, dn);
    } else if (g.state === 'pending') {
      actions.append(h('span', { class: 'muted small', text: t('ownPending') }));
    }
    if (isLive) {
      const rv = h('button', { type: 'button', class: 'btn danger-outline small-btn', 'data-test': 'grant-revoke', 'data-focus-key': `revoke:${g.grant_id}`, text: t('revoke') });
      rv.addEventListener('click', () => confirmIn(actions, rv, {
        question: t('revokeQuestion'), confirm: t('revoke'), hook: 'grant-revoke-confirm',
        onConfirm: (yes) => () => act(yes, errKey, () => grantAction(g, 'revoke')),
      }));
      actions.append(rv);
    }
    const stateClass = isLive ? 'live' : g.state;
    const subjects = Array.isArray(g.subjects) ? g.subjects : [];
    const regions = Array.isArray(g.regions) ? g.regions : [];
    return h('li', { class: `item grant ${mine ? 'mine' : 'theirs'}`, 'data-test': 'grant-item', 'data-grant': g.grant_id, 'data-state': g.state, 'data-live': String(isLive), 'data-mine': String(mine) },
      h('div', { class: 'item-head' },
        h('span', { class: 'item-title', text: g.grant_id }),
        g.break_glass ? h('span', { class: 'tag', text: t('breakGlass') }) : null,
        h('span', { class: `pill state-${stateClass}`, 'data-test': 'grant-state', text: grantStateLabel(g) })),
      h('p', { class: 'muted small', text: t('grantBy', { staff: g.staff_id, org: g.org_id }) }),
      dlRows([
        subjects.length ? [t('grantSubjects'), subjects.join(', ')] : null,
        regions.length ? [t('grantRegions'), regions.join(', ')] : null,
        [t('grantFields'), (g.fields || []).map((f) => label('field_', f)).join(', ') || t('none')],
        [t('grantPurpose'), label('purpose_', g.purpose)],
        [t('grantTicket'), String(g.ticket || '')],
        [t('grantReason'), String(g.reason || '')],
        [t('grantDuration'), duration(g.duration_secs)],
        [t('grantRequested'), fmtTime(g.requested_at)],
        g.decided_by ? ['', t('grantDecided', { who: g.decided_by, time: fmtTime(g.decided_at) })] : null,
        (g.consented && g.consented.length) ? [t('grantConsented'), list(g.consented)] : null,
        (g.declined && g.declined.length) ? [t('grantDeclined'), list(g.declined)] : null,
      ]),
      actions,
      itemError(errKey));
  }

  // The request form persists across renders (its values stay).
  const gSubjects = h('input', { id: 'g-subjects', type: 'text', 'data-test': 'grant-subjects', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
  const gRegions = h('input', { id: 'g-regions', type: 'text', 'data-test': 'grant-regions', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
  const gFieldBoxes = FIELDS.map((f) => h('input', { type: 'checkbox', id: `g-field-${f}`, name: 'fields', value: f, 'data-field': f }));
  const gFields = h('fieldset', { class: 'checks', 'data-test': 'grant-fields' },
    h('legend', { i18n: 'fieldsLabel' }),
    ...FIELDS.map((f, i) => h('label', { class: 'check', for: `g-field-${f}` }, gFieldBoxes[i], h('span', { i18n: `field_${f}` }))));
  const gPurpose = h('select', { id: 'g-purpose', 'data-test': 'grant-purpose' }, ...PURPOSES.map((p) => h('option', { value: p, i18n: `purpose_${p}` })));
  const gTicket = h('input', { id: 'g-ticket', type: 'text', 'data-test': 'grant-ticket', autocomplete: 'off', maxlength: '200' });
  const gReason = h('textarea', { id: 'g-reason', 'data-test': 'grant-reason', rows: '2', maxlength: '2000' });
  const gDuration = h('input', { id: 'g-duration', type: 'number', 'data-test': 'grant-duration', min: '1', step: '1', value: '60' });
  const gBreak = h('input', { id: 'g-break', type: 'checkbox', 'data-test': 'grant-break-glass' });
  const gError = errorBox();
  const gOk = h('p', { class: 'ok-text', role: 'status', 'data-test': 'grant-sent' });
  const gSubmit = h('button', { type: 'submit', class: 'btn', 'data-test': 'grant-submit', i18n: 'grantSubmit' });
  const grantForm = h('form', { class: 'card-section form', 'data-test': 'grant-form', novalidate: true, 'aria-labelledby': 'g-title' },
    h('h3', { id: 'g-title', i18n: 'newGrantTitle' }),
    h('p', { class: 'muted small', i18n: 'newGrantExplain' }),
    field('g-subjects', 'subjectsLabel', gSubjects),
    gFields,
    field('g-regions', 'regionsLabel', gRegions),
    h('div', { class: 'row-fields' },
      field('g-purpose', 'purposeLabel', gPurpose),
      field('g-ticket', 'ticketLabel', gTicket),
      field('g-duration', 'durationLabel', gDuration)),
    field('g-reason', 'reasonLabel', gReason),
    h('label', { class: 'check', for: 'g-break' }, gBreak, h('span', { i18n: 'breakGlassLabel' })),
    gError, gOk,
    h('div', { class: 'actions' }, gSubmit));
  grantForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    gOk.textContent = '';
    const fields = gFieldBoxes.filter((b) => b.checked).map((b) => b.value);
    const minutes = Number(gDuration.value);
    const body = {
      subjects: splitList(gSubjects.value),
      fields,
      purpose: gPurpose.value,
      ticket: gTicket.value.trim(),
      reason: gReason.value.trim(),
      duration_secs: Math.round(minutes * 60),
      break_glass: gBreak.checked,
      regions: splitList(gRegions.value),
    };
    let bad = null;
    if (!body.subjects.length && !body.regions.length) bad = [gSubjects, 'needSubjects'];
    else if (!fields.length) bad = [gFieldBoxes[0], 'needFields'];
    else if (!body.ticket) bad = [gTicket, 'needTicket'];
    else if (!body.reason) bad = [gReason, 'needReason'];
    else if (!Number.isFinite(minutes) || minutes <= 0) bad = [gDuration, 'needDuration'];
    if (bad) { gError.textContent = t(bad[1]); bad[0].focus(); return; }
    gError.textContent = '';
    gSubmit.disabled = true;
    try {
      const g = await api('POST', '/api/grants', body);
      if (g && g.grant_id) {
        st.grants.data = [g, ...(st.grants.data || []).filter((x) => x.grant_id !== g.grant_id)];
        gOk.textContent = t('grantSent', { id: g.grant_id });
      }
      gSubjects.value = ''; gRegions.value = ''; gTicket.value = ''; gReason.value = ''; gBreak.checked = false;
      for (const b of gFieldBoxes) b.checked = false;
      renderSection('grants');
      loadSection('grants');
    } catch (err) {
      if (err.code !== 'no_session') gError.textContent = t('actionFailed', { msg: err.message });
    } finally {
      gSubmit.disabled = false;
    }
  });

  function renderGrants(body) {
    const s = st.grants;
    const data = s.data || [];
    const mine = data.filter((g) => g.staff_id === session.staff_id);
    const others = data.filter((g) => g.staff_id !== session.staff_id);
    const order = (a, b) => (a.state === 'pending' ? 0 : 1) - (b.state === 'pending' ? 0 : 1) || (toMs(b.requested_at) || 0) - (toMs(a.requested_at) || 0);
    const group = (key, arr, test) => h('section', { class: 'card-section', 'aria-labelledby': `gh-${test}` },
      h('h3', { id: `gh-${test}`, i18n: key }),
      arr.length ? h('ul', { class: 'item-list', 'data-test': `grants-${test}` }, ...arr.sort(order).map(renderGrant)) : h('p', { class: 'muted', text: t('grantsNone') }));
    fill(body, 
      ...head('grantsTitle', 'grantsExplain', refreshButton('grants')),
      h('div', { class: 'grants-list', 'data-test': 'grants-list', 'data-loaded': String(s.status === 'ok') },
        statusLine(s),
        s.data && !data.length ? h('p', { class: 'muted card-section', text: t('grantsNone') }) : null,
        s.data && others.length ? group('grantsOthers', others, 'others') : null,
        s.data && mine.length ? group('grantsMine', mine, 'mine') : null),
      grantForm);
  }

  // ---- governed read ----
  const readHandle = h('input', { id: 'read-handle', type: 'text', 'data-test': 'read-handle', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
  const readSubmit = h('button', { type: 'submit', class: 'btn', 'data-test': 'read-submit', i18n: 'readSubmit' });
  const readError = errorBox();
  const readForm = h('form', { class: 'card-section inline-form', 'data-test': 'read-form', novalidate: true },
    h('div', { class: 'row-fields' }, field('read-handle', 'readHandle', readHandle), h('div', { class: 'field end' }, readSubmit)),
    readError);
  readForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const handle = readHandle.value.trim().replace(/^@/, '');
    if (!handle) { readError.textContent = t('readNeedHandle'); readHandle.focus(); return; }
    readError.textContent = '';
    readSubmit.disabled = true;
    readResult = null;
    renderSection('read');
    try {
      const read = await api('GET', `/api/people/${enc(handle)}`);
      // Which fields the grant it used covers: only those are shown.
      let grants = st.grants.data;
      if (!grants || !grants.some((g) => g.grant_id === read.grant_id)) {
        try { grants = await api('GET', '/api/grants'); st.grants.data = grants; st.grants.status = 'ok'; } catch (_) { /* unknown grant */ }
      }
      const grant = (grants || []).find((g) => g.grant_id === read.grant_id) || null;
      readResult = { read, grant };
      renderSection('read');
      const res = sectionBodies.read.querySelector('[data-test="read-result"] h3');
      if (res) res.focus();
    } catch (err) {
      if (err.code !== 'no_session') readError.textContent = t('actionFailed', { msg: err.message });
    } finally {
      readSubmit.disabled = false;
    }
  });
  function renderRead(body) {
    let result = null;
    if (readResult) {
      const { read, grant } = readResult;
      const granted = grant && Array.isArray(grant.fields) ? grant.fields : null;
      const present = READ_FIELDS.filter((f) => read[f] !== null && read[f] !== undefined);
      const shown = present.filter((f) => !granted || granted.includes(f));
      const masked = present.filter((f) => granted && !granted.includes(f));
      const valueOf = (v) => (Array.isArray(v) ? (v.length ? v.map(String).join(', ') : t('none')) : String(v));
      result = h('section', { class: 'card-section read-result', 'data-test': 'read-result', 'data-subject': read.subject, 'data-grant': read.grant_id, 'aria-labelledby': 'read-title' },
        h('h3', { id: 'read-title', tabindex: '-1', text: read.subject }),
        h('p', { class: 'logged', 'data-test': 'read-logged', text: t('readLogged', { subject: read.subject, grant: read.grant_id }) }),
        dlRows([
          [t('readSubject'), String(read.subject)],
          [t('readRegion'), String(read.region || '—')],
          [t('readGrant'), grant ? `${read.grant_id} · ${label('purpose_', grant.purpose)} · ${grant.ticket}` : String(read.grant_id)],
        ]),
        h('h4', { i18n: 'readFieldsTitle' }),
        shown.length
          ? h('dl', { class: 'kv read-fields' }, ...shown.map((f) => h('div', { class: 'kv-row', 'data-test': 'read-field', 'data-field': f },
            h('dt', { text: label('field_', f) }), h('dd', { class: 'read-value', text: valueOf(read[f]) }))))
          : h('p', { class: 'muted', text: t('readNoFields') }),
        masked.length
          ? h('dl', { class: 'kv masked' }, ...masked.map((f) => h('div', { class: 'kv-row', 'data-test': 'read-masked', 'data-field': f },
            h('dt', { text: label('field_', f) }), h('dd', { class: 'muted', text: t('readMasked', { value: valueOf(read[f]) }) }))))
          : null);
    }
    fill(body, ...head('readTitle', 'readExplain'), readForm, result);
  }

  // ---- alerts ----
  function renderAlerts(body) {
    const s = st.alerts;
    const data = s.data || [];
    fill(body, 
      ...head('alertsTitle', 'alertsExplain', refreshButton('alerts')),
      statusLine(s),
      s.data ? (data.length
        ? h('ul', { class: 'item-list', 'data-test': 'alerts-list' }, ...data.map((a) => {
          const obj = a && typeof a === 'object' ? a : { value: a };
          const title = [obj.kind ? label('kind_', obj.kind) : null, obj.staff_id || null].filter(Boolean).join(' · ');
          const rest = {};
          for (const [k, v] of Object.entries(obj)) if (k !== 'kind') rest[k] = v;
          return h('li', { class: 'item alert', 'data-test': 'alert-item', 'data-kind': obj.kind || '' },
            title ? h('p', { class: 'item-title', text: title }) : null,
            renderValue(rest));
        }))
        : h('p', { class: 'muted', text: t('alertsNone') })) : null);
  }

  // ---- reviews ----
  function renderReview(r) {
    const done = !!r.completed_at || !!r.completed_by;
    const own = r.staff_id === session.staff_id;
    const errKey = `review:${r.grant_id}`;
    let form = null;
    if (!done && own) {
      form = h('p', { class: 'muted small', text: t('reviewOwn') });
    } else if (!done) {
      const name = `rj-${r.grant_id}`;
      const yes = h('input', { type: 'radio', name, id: `${name}-y`, value: 'true', 'data-test': 'review-justified-yes' });
      const no = h('input', { type: 'radio', name, id: `${name}-n`, value: 'false', 'data-test': 'review-justified-no' });
      const note = h('textarea', { id: `${name}-note`, rows: '2', 'data-test': 'review-note', maxlength: '2000' });
      const submit = h('button', { type: 'submit', class: 'btn small-btn', 'data-test': 'review-submit', text: t('reviewSubmit') });
      const err = itemError(errKey);
      form = h('form', { class: 'review-form', novalidate: true },
        h('fieldset', { class: 'checks' }, h('legend', { text: t('reviewQuestion') }),
          h('label', { class: 'check', for: `${name}-y` }, yes, h('span', { text: t('reviewJustifiedYes') })),
          h('label', { class: 'check', for: `${name}-n` }, no, h('span', { text: t('reviewJustifiedNo') }))),
        h('div', { class: 'field' }, h('label', { for: `${name}-note`, text: t('reviewNoteLabel') }), note),
        err,
        h('div', { class: 'actions' }, submit));
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        if ((!yes.checked && !no.checked) || !note.value.trim()) { err.textContent = t('reviewNeedAnswer'); return; }
        act(submit, errKey, async () => {
          const updated = await api('POST', `/api/reviews/${enc(r.grant_id)}/complete`, { justified: yes.checked, note: note.value.trim() });
          const arr = st.reviews.data || [];
          const i = arr.findIndex((x) => x.grant_id === r.grant_id);
          if (updated && i >= 0) arr[i] = updated;
          renderSection('reviews');
          loadSection('reviews');
        });
      });
    }
    return h('li', { class: `item review ${done ? 'done' : 'open'}`, 'data-test': 'review-item', 'data-grant': r.grant_id, 'data-done': String(done) },
      h('div', { class: 'item-head' },
        h('span', { class: 'item-title', text: t('reviewGrant', { id: r.grant_id }) }),
        h('span', { class: `pill ${done ? 'state-done' : 'state-pending'}`, text: t(done ? 'reviewDone' : 'reviewOpen') })),
      h('p', { class: 'muted small', text: t('reviewBy', { staff: r.staff_id, org: r.org_id }) }),
      dlRows([
        [t('reviewOpened'), fmtTime(r.opened_at)],
        done ? [t('reviewCompletedBy'), String(r.completed_by || '—')] : null,
        done ? [t('reviewCompletedAt'), fmtTime(r.completed_at)] : null,
        done && typeof r.justified === 'boolean' ? [t('reviewJustified'), t(r.justified ? 'yes' : 'no')] : null,
        done && r.note ? [t('reviewNote'), String(r.note)] : null,
      ]),
      form, done ? itemError(errKey) : null);
  }
  function renderReviews(body) {
    const s = st.reviews;
    const data = (s.data || []).slice().sort((a, b) => (a.completed_at ? 1 : 0) - (b.completed_at ? 1 : 0) || (toMs(b.opened_at) || 0) - (toMs(a.opened_at) || 0));
    fill(body, 
      ...head('reviewsTitle', 'reviewsExplain', refreshButton('reviews')),
      statusLine(s),
      s.data ? (data.length ? h('ul', { class: 'item-list', 'data-test': 'reviews-list' }, ...data.map(renderReview)) : h('p', { class: 'muted', text: t('reviewsNone') })) : null);
  }

  // ---- reports ----
  const reportFilter = h('select', { id: 'report-filter', 'data-test': 'report-filter' }, ...REPORT_FILTERS.map((f) => h('option', { value: f, i18n: `filter_${f}` })));
  reportFilter.addEventListener('change', () => { openedReport = null; loadSection('reports'); renderSection('reports'); });
  const filterBox = h('div', { class: 'filter' }, h('label', { for: 'report-filter', i18n: 'reportsFilter' }), reportFilter);
  async function openReport(id, btn) {
    await act(btn, `report:${id}`, async () => {
      openedReport = await api('GET', `/api/reports/${enc(id)}`);
      renderSection('reports');
      const d = sectionBodies.reports.querySelector('[data-test="report-detail"] h3');
      if (d) d.focus();
      btn.disabled = false;
    });
  }
  function renderOutcome(o) {
    if (!o) return null;
    const bits = [label('action_', o.action)];
    if (o.until) bits.push(t('outcomeUntil', { time: fmtTime(o.until) }));
    if (o.on_appeal) bits.push(t('outcomeOnAppeal'));
    return h('div', {}, h('p', { class: 'strong', text: bits.join(' · ') }), h('p', { text: String(o.reason || '') }), h('p', { class: 'muted small', text: fmtTime(o.decided_at) }));
  }
  function renderReportDetail(r) {
    const msgs = Array.isArray(r.messages) ? r.messages : [];
    const errKey = `resolve:${r.report_id}`;
    let form = null;
    if (r.state !== 'resolved') {
      const action = h('select', { id: 'resolve-action', 'data-test': 'report-resolve-action' }, ...ACTIONS.map((a) => h('option', { value: a, text: label('action_', a) })));
      const reason = h('textarea', { id: 'resolve-reason', rows: '2', 'data-test': 'report-resolve-reason', maxlength: '2000' });
      const days = h('input', { id: 'resolve-days', type: 'number', min: '1', step: '1', 'data-test': 'report-resolve-days', disabled: true });
      const daysField = h('div', { class: 'field' }, h('label', { for: 'resolve-days', text: t('resolveDays') }), days);
      const sync = () => { const on = action.value === 'restrict' || action.value === 'suspend'; days.disabled = !on; daysField.classList.toggle('off', !on); };
      action.addEventListener('change', sync);
      const submit = h('button', { type: 'submit', class: 'btn', 'data-test': 'report-resolve-submit', text: t('resolveSubmit') });
      const err = itemError(errKey);
      form = h('form', { class: 'resolve-form', 'data-test': 'report-resolve-form', novalidate: true, 'aria-labelledby': 'resolve-title' },
        h('h4', { id: 'resolve-title', text: t('resolveTitle') }),
        h('div', { class: 'row-fields' }, h('div', { class: 'field' }, h('label', { for: 'resolve-action', text: t('resolveAction') }), action), daysField),
        h('div', { class: 'field' }, h('label', { for: 'resolve-reason', text: t('resolveReason') }), reason),
        err, h('div', { class: 'actions' }, submit));
      sync();
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        if (!reason.value.trim()) { err.textContent = t('resolveNeedReason'); reason.focus(); return; }
        const d = days.disabled || days.value === '' ? null : Math.max(1, Math.round(Number(days.value)));
        act(submit, errKey, async () => {
          openedReport = await api('POST', `/api/reports/${enc(r.report_id)}/resolve`, { action: action.value, reason: reason.value.trim(), days: d });
          announce(t('resolveDone'));
          renderSection('reports');
          loadSection('reports');
        });
      });
    }
    const close = h('button', { type: 'button', class: 'btn secondary small-btn', 'data-test': 'report-close', text: t('reportClose'),
      onclick: () => { openedReport = null; renderSection('reports'); } });
    return h('section', { class: 'card-section report-detail', 'data-test': 'report-detail', 'data-report': r.report_id, 'data-state': r.state, 'aria-labelledby': 'rd-title' },
      h('div', { class: 'section-head' }, h('h3', { id: 'rd-title', tabindex: '-1', text: t('reportTitle', { id: r.report_id }) }), close),
      dlRows([
        [t('reportState'), label('rstate_', r.state)],
        [t('reportReason'), label('reason_', r.reason)],
        [t('reportRegion'), String(r.region)],
        [t('reportCreated'), fmtTime(r.created_at)],
        [t('reportReported'), String(r.reported_handle)],
        [t('reportChat'), h('code', { text: String(r.chat) })],
        r.note ? [t('reportNote'), String(r.note)] : null,
        [t('reportGrant'), String(r.grant_id)],
        r.outcome ? [t('reportOutcome'), renderOutcome(r.outcome)] : null,
        r.appeal ? [t('reportAppeal'), h('div', {}, h('p', { text: String(r.appeal.note || '') }), h('p', { class: 'muted small', text: fmtTime(r.appeal.at) }))] : null,
      ]),
      h('h4', { text: t('reportMessages') }),
      h('ol', { class: 'report-messages', 'data-test': 'report-messages' }, ...msgs.map((m, i) => {
        const last = i === msgs.length - 1;
        return h('li', { class: `rmsg${last ? ' reported' : ''}`, 'data-seq': String(m.group_seq) },
          h('div', { class: 'rmsg-head' }, h('span', { class: 'strong', text: String(m.sender_handle) }), h('span', { class: 'muted small', text: `#${m.group_seq} · ${fmtTime(m.server_time)}` }),
            last ? h('span', { class: 'tag', text: t('reportReportedMsg') }) : null),
          h('p', { class: 'rmsg-text', text: String(m.text) }));
      })),
      form);
  }
  function renderReports(body) {
    const s = st.reports;
    const data = s.data || [];
    fill(body, 
      ...head('reportsTitle', 'reportsExplain', h('div', { class: 'head-tools' }, filterBox, refreshButton('reports'))),
      statusLine(s),
      s.data ? (data.length ? h('ul', { class: 'item-list compact', 'data-test': 'reports-list' }, ...data.map((r) => {
        const btn = h('button', { type: 'button', class: 'btn secondary small-btn', 'data-test': 'report-open', 'data-focus-key': `open:${r.report_id}`, text: t('reportOpen') });
        btn.addEventListener('click', () => openReport(r.report_id, btn));
        return h('li', { class: `item line-item${openedReport && openedReport.report_id === r.report_id ? ' current' : ''}`, 'data-test': 'report-item', 'data-report': r.report_id, 'data-state': r.state },
          h('div', { class: 'grow' },
            h('p', { class: 'item-title', text: `${r.report_id} · ${label('reason_', r.reason)}` }),
            h('p', { class: 'muted small', text: `${label('rstate_', r.state)} · ${r.region} · ${fmtTime(r.created_at)}` }),
            itemError(`report:${r.report_id}`)),
          btn);
      })) : h('p', { class: 'muted', text: t('reportsNone') })) : null,
      openedReport ? renderReportDetail(openedReport) : null);
  }

  // ---- breach scope ----
  const bOrg = h('input', { id: 'b-org', type: 'text', 'data-test': 'breach-org', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
  const bStaff = h('input', { id: 'b-staff', type: 'text', 'data-test': 'breach-staff', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
  const bFrom = h('input', { id: 'b-from', type: 'datetime-local', 'data-test': 'breach-from' });
  const bTo = h('input', { id: 'b-to', type: 'datetime-local', 'data-test': 'breach-to' });
  const bError = errorBox();
  const bSubmit = h('button', { type: 'submit', class: 'btn', 'data-test': 'breach-submit', i18n: 'breachSubmit' });
  const breachForm = h('form', { class: 'card-section form', 'data-test': 'breach-form', novalidate: true },
    h('div', { class: 'row-fields' }, field('b-org', 'breachOrg', bOrg), field('b-staff', 'breachStaff', bStaff)),
    h('div', { class: 'row-fields' }, field('b-from', 'breachFrom', bFrom), field('b-to', 'breachTo', bTo)),
    bError, h('div', { class: 'actions' }, bSubmit));
  const localMs = (v) => { if (!v) return null; const ms = new Date(v).getTime(); return Number.isFinite(ms) ? ms : null; };
  breachForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const query = { org_id: bOrg.value.trim() || null, staff_id: bStaff.value.trim() || null, from: localMs(bFrom.value), to: localMs(bTo.value) };
    if (!query.org_id && !query.staff_id) { bError.textContent = t('breachNeedWho'); bOrg.focus(); return; }
    if (query.from !== null && query.to !== null && query.from >= query.to) { bError.textContent = t('breachBadWindow'); bFrom.focus(); return; }
    bError.textContent = '';
    bSubmit.disabled = true;
    bSubmit.textContent = t('breachBusy');
    try {
      breachScope = await api('POST', '/api/breach/scope', query);
      breachScope.__asked = query;
      renderSection('breach');
      const r = sectionBodies.breach.querySelector('[data-test="breach-result"] h3');
      if (r) r.focus();
    } catch (err) {
      if (err.code !== 'no_session') bError.textContent = t('actionFailed', { msg: err.message });
    } finally {
      bSubmit.disabled = false;
      bSubmit.textContent = t('breachSubmit');
    }
  });
  // One bar chart: a list of rows whose bar width is set through the CSSOM.
  function barChart(titleKey, rows, attr) {
    const max = Math.max(1, ...rows.map((r) => r.value));
    return h('figure', { class: 'chart', 'data-chart': attr },
      h('figcaption', { class: 'chart-title', text: t(titleKey) }),
      rows.length ? h('ul', { class: 'bars' }, ...rows.map((r) => {
        const bar = h('span', { class: 'bar-fill' });
        bar.style.width = `${Math.max(r.value > 0 ? 2 : 0, (r.value / max) * 100)}%`;
        return h('li', { class: 'bar-row', 'data-test': 'breach-bar', [`data-${attr}`]: r.key, 'data-value': String(r.value) },
          h('span', { class: 'bar-label', text: r.label }),
          h('span', { class: 'bar-track', 'aria-hidden': 'true' }, bar),
          h('span', { class: 'bar-value', text: num(r.value) }));
      })) : h('p', { class: 'muted small', text: t('none') }));
  }
  function renderBreachResult(b) {
    const people = Array.isArray(b.people) ? b.people : [];
    const regions = Array.isArray(b.regions) ? b.regions : [];
    const perField = b.per_field && typeof b.per_field === 'object' ? b.per_field : {};
    const reads = people.reduce((n, p) => n + (Number(p.reads) || 0), 0);
    const query = b.query || b.__asked || {};
    const qs = q({ org_id: query.org_id, staff_id: query.staff_id, from: query.from, to: query.to });
    const stat = (key, value, test) => h('div', { class: 'stat', 'data-test': test || null, 'data-count': String(value) },
      h('span', { class: 'stat-value', text: num(value) }), h('span', { class: 'stat-label', text: t(key) }));
    const orgs = Array.isArray(b.orgs) ? b.orgs : [];
    const staff = Array.isArray(b.staff) ? b.staff : [];
    const shown = people.slice(0, PEOPLE_SHOWN);
    const regionRows = regions.map((r) => ({ key: r.id, label: `${r.name || r.id} (${r.country || r.id})`, value: Number(r.affected) || 0 }));
    const fieldRows = Object.entries(perField).map(([f, n]) => ({ key: f, label: label('field_', f), value: Number(n) || 0 }));
    return h('section', { class: 'card-section breach-result', 'data-test': 'breach-result', 'aria-labelledby': 'br-title' },
      h('h3', { id: 'br-title', tabindex: '-1', text: [query.org_id, query.staff_id].filter(Boolean).join(' · ') }),
      h('p', { class: 'muted small', text: t('breachScoped', { who: b.scoped_by || '—', time: fmtTime(b.scoped_at) }) }),
      h('div', { class: 'stats' },
        stat('breachTotal', people.length, 'breach-total'),
        stat('breachReads', reads),
        stat('breachRegions', regions.length),
        stat('breachLedger', Number(b.ledger_size) || 0)),
      dlRows([
        [t('breachOrgs'), orgs.length ? h('span', {}, ...orgs.map((o, i) => h('span', {}, i ? ', ' : '', `${o.org_id} (${o.country || '—'})`,
          o.suspended_at ? h('span', { class: 'tag', text: t('suspendedTag') }) : null))) : t('none')],
        [t('breachStaffList'), staff.length ? h('span', {}, ...staff.map((m, i) => h('span', {}, i ? ', ' : '', String(m.staff_id),
          m.suspended_at ? h('span', { class: 'tag', text: t('suspendedTag') }) : null))) : t('none')],
      ]),
      h('div', { class: 'charts', 'data-test': 'breach-chart' },
        barChart('breachPerRegion', regionRows, 'region'),
        barChart('breachPerField', fieldRows, 'field')),
      h('h4', { text: t('breachPeople') }),
      people.length ? h('div', {},
        people.length > shown.length ? h('p', { class: 'muted small', text: t('breachPeopleMore', { shown: shown.length, n: people.length }) }) : null,
        h('div', { class: 'table-wrap' }, h('table', { class: 'data-table', 'data-test': 'breach-people' },
          h('thead', {}, h('tr', {}, ...['col_handle', 'col_region', 'col_fields', 'col_reads', 'col_first', 'col_last', 'col_staff', 'col_orgs'].map((c) => h('th', { scope: 'col', text: t(c) })))),
          h('tbody', {}, ...shown.map((p) => h('tr', { 'data-test': 'breach-person', 'data-handle': p.handle },
            h('td', { text: String(p.handle) }), h('td', { text: String(p.region) }),
            h('td', { text: (p.fields || []).map((f) => label('field_', f)).join(', ') }),
            h('td', { class: 'num', text: num(Number(p.reads) || 0) }),
            h('td', { text: fmtTime(p.first_at) }), h('td', { text: fmtTime(p.last_at) }),
            h('td', { text: list(p.staff) }), h('td', { text: list(p.orgs) }))))))) : h('p', { class: 'muted', text: t('breachNoPeople') }),
      h('h4', { text: t('breachDrafts') }),
      h('ul', { class: 'downloads' },
        ...regions.map((r) => h('li', {}, h('a', { href: `/api/breach/drafts/${enc(r.id)}${qs}`, download: `breach-draft-${r.id}.txt`, 'data-test': 'breach-draft-link', 'data-region': r.id,
          text: t('breachDraftFor', { region: `${r.name || r.id} (${r.country || r.id})` }) }))),
        h('li', {}, h('a', { href: `/api/breach/scope.json${qs}`, download: 'breach-scope.json', 'data-test': 'breach-scope-json', text: t('breachScopeJson') }))));
  }
  function renderBreach(body) {
    fill(body, ...head('breachTitle', 'breachExplain'), breachForm, breachScope ? renderBreachResult(breachScope) : null);
  }

  const RENDER = { grants: renderGrants, read: renderRead, alerts: renderAlerts, reviews: renderReviews, reports: renderReports, breach: renderBreach };

  // Arrow keys move along the section buttons.
  nav.addEventListener('keydown', (e) => {
    const btns = Object.values(navButtons);
    const i = btns.indexOf(document.activeElement);
    if (i < 0) return;
    let j = null;
    if (e.key === 'ArrowRight') j = (i + 1) % btns.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + btns.length) % btns.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = btns.length - 1;
    if (j !== null) { e.preventDefault(); btns[j].focus(); }
  });

  // Coming back to the tab: the session may have run out meanwhile.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && session) checkStaffSession();
  });

  // ---------------------------------------------------------------------
  // Start
  // ---------------------------------------------------------------------
  applyLang();
  (async () => {
    try {
      const s = await api('GET', '/api/session');
      if (s && s.logged_in) signedIn(s); else showLogin('');
    } catch (e) {
      if (e.code !== 'no_session') showLogin(t('loadFailed', { msg: e.message }));
    }
  })();
})();
