// Kizuna device app: the page. It talks only to the local `kizuna app`
// process (same origin), which holds the keys. No framework, no network
// beyond that origin. Everything shown that came from the API (names,
// handles, message texts) is untrusted and is only ever set as textContent.
'use strict';

(() => {
  // ---------------------------------------------------------------------
  // Test hooks
  // ---------------------------------------------------------------------
  const hooks = {
    renderedRows: () => document.querySelectorAll('[data-test="message"]').length,
    firstRenderMs: null,
  };
  window.__kizuna = hooks;

  // ---------------------------------------------------------------------
  // Strings
  // ---------------------------------------------------------------------
  const STRINGS = {
    en: {
      appName: 'Kizuna',
      language: 'Language',
      chats: 'Chats',
      newChat: 'New chat',
      newChatTitle: 'Start a new chat',
      handlesLabel: 'Who with (handles, separated by commas)',
      handlesPlaceholder: 'bob, carol',
      nameLabel: 'Chat name (optional)',
      create: 'Start chat',
      cancel: 'Cancel',
      needHandle: 'Enter at least one handle.',
      noChats: 'No chats yet. Start one with “New chat”.',
      chooseChat: 'Choose a chat to read it here.',
      back: 'Back to chats',
      onlyYou: 'Just you',
      you: 'You',
      members: 'Members: {list}',
      unreadCount: '{n} unread',
      messages: 'Messages',
      composerLabel: 'Message',
      composerPlaceholder: 'Message (Enter to send, Shift+Enter for a new line)',
      send: 'Send',
      sending: 'Sending…',
      cardSend: 'Send',
      announcementFrom: '{org} (@{handle})',
      announcementDismiss: 'Dismiss',
      officialOpen: 'Official accounts',
      officialTitle: 'Follow an official account',
      officialHandleLabel: "The official account's handle",
      officialLookup: 'Check',
      officialFollow: 'Follow',
      officialNot: '@{handle} is not an official account.',
      officialRevoked: '@{handle} is no longer an official account: its badge was revoked ({reason}).',
      officialBadge: 'Official account of {org}',
      officialKind_municipality: 'City, town or village',
      officialKind_prefecture: 'Prefecture',
      officialKind_ministry: 'Ministry',
      officialKind_agency: 'Government agency',
      officialKind_hospital: 'Hospital',
      officialKind_school: 'School',
      officialKind_utility: 'Utility',
      officialKind_other: 'Other organisation',
      officialKeeps: 'Keeps what you send it: {where} ({country})',
      officialContact: 'Privacy contact: {contact}',
      officialChecked: 'Checked on this device in the key log.',
      officialTag: 'Official',
      officialUnfollow: 'Unfollow',
      officialErase: 'Also ask it to erase what I sent it',
      officialUnfollowQ: 'Stop following @{handle} and leave this chat?',
      officialUnfollowed: 'You no longer follow @{handle}.',
      officialErasureAsked: 'You no longer follow @{handle}. Your request to erase what you sent it went to its own devices, end to end.',
      severity_emergency: 'Emergency',
      severity_warning: 'Warning',
      severity_info: 'Notice',
      announcementTamperTitle: 'AN ANNOUNCEMENT WAS REFUSED.',
      announcementTamperAdvice: 'Your device received an announcement that its official account did not sign as shown: the node altered it or made it up. It is not shown. Keep this message and tell the operator.',
      answered: 'Answer to #{seq}',
      erasureAsked: 'Asked to erase what was sent',
      segmentsAsked: 'Asked for the notices of {segments}',
      sendFailed: 'Not sent: {msg}',
      attach: 'Attach a file',
      attachHint: 'Drop files here to send them',
      sendingFile: 'Sending {name}…',
      fileSave: 'Save',
      fileLoadFailed: 'Could not open the file: {msg}',
      createFailed: 'Could not start the chat: {msg}',
      loadFailed: 'Could not load messages: {msg}',
      today: 'Today',
      yesterday: 'Yesterday',
      unopened: 'This message could not be opened',
      reason: 'Reason: {reason}',
      loading: 'Loading…',
      noMessages: 'No messages yet. Say hello!',
      connecting: 'Connecting…',
      inactive: 'You are no longer a member of this chat.',
      networkError: 'Could not reach the Kizuna app on this device.',
      newMessage: 'New message from {sender}: {text}',
      newMessageIn: 'New message from {sender} in {chat}',
      sessionTitle: 'Session ended',
      sessionEnded: 'This page\'s session ended; open the address `kizuna app` printed again.',
      // v2
      navChats: 'Chats',
      navPrivacy: 'Privacy',
      navSettings: 'Settings',
      sections: 'Sections',
      yes: 'Yes',
      no: 'No',
      none: 'None',
      close: 'Close',
      loadFailedShort: 'Could not load this: {msg}',
      actionFailed: 'That did not work: {msg}',
      handlePlaceholder: 'handle',
      needOneHandle: 'Enter a handle.',
      requestTag: 'Request',
      leftTag: 'Left',
      membersTitle: 'Members',
      membersFailed: 'Could not load the members: {msg}',
      safetyNumber: 'Safety number',
      safetyNumberNamed: 'Safety number with {handle}',
      safetyTitle: 'Safety number with {handle}',
      safetyExplain: 'Compare it with the one {handle} sees, in person or over another channel. If every digit matches, mark them verified.',
      safetyText: 'As text, for a QR code:',
      safetyUnverified: 'Not verified',
      safetyVerified: 'Verified',
      safetyChanged: 'Their keys changed since you verified them',
      safetyConfirm: 'Mark as verified',
      safetyFailed: 'Could not load the safety number: {msg}',
      keysChanged: '{handle}’s keys changed since you verified them. Compare safety numbers again before you trust this chat.',
      deviceCountOne: '1 device',
      deviceCount: '{n} devices',
      removeMember: 'Remove',
      removeMemberNamed: 'Remove {handle} from this chat',
      removeMemberFailed: 'Could not remove them: {msg}',
      memberAdded: '{handle} was added to the chat.',
      memberRemoved: '{handle} was removed from the chat.',
      addMemberLabel: 'Add someone (handle)',
      addMember: 'Add',
      addMemberFailed: 'Could not add them: {msg}',
      leaveChat: 'Leave this chat',
      leaveQuestion: 'Leave this chat? You will stop receiving its messages, and someone in it has to add you again to come back.',
      leaveConfirm: 'Leave',
      requestTitle: 'Chat request',
      requestFrom: '{from} wants to chat with you. You don’t have them in your contacts.',
      requestExplain: 'You can read what they sent, but you can’t reply until you accept. Declining removes the chat; blocking also stops them from sending you anything.',
      requestAccept: 'Accept',
      requestDecline: 'Decline',
      requestBlock: 'Decline and block',
      requestDeclined: 'The chat request was declined.',
      requestBlocked: 'The chat request was declined and the sender blocked.',
      messageMenu: 'Message options',
      reportMenu: 'Report…',
      reportTitle: 'Report this message',
      reportQuoteFrom: 'Message from {sender}:',
      reportExplain: 'Your report reveals this message to the service’s moderators, with proof that it was really sent. Nothing else in the chat is shared unless you include earlier messages below.',
      reportReasonLabel: 'Reason',
      reason_spam: 'Spam or scam',
      reason_harassment: 'Harassment or bullying',
      reason_illegal: 'Illegal content',
      reason_other: 'Something else',
      reportNoteLabel: 'Note for the moderators (optional)',
      reportPrecedingLabel: 'Also include earlier messages (0–20)',
      reportPrecedingHint: 'The messages just before this one help moderators understand it. They will see those messages too.',
      reportSubmit: 'Send report',
      reportFailed: 'The report was not sent: {msg}',
      reportDoneTitle: 'Report sent',
      reportDoneTextOne: 'Thank you. The moderators will look at this message. You can follow the report in Privacy → Reports you filed.',
      reportDoneText: 'Thank you. The moderators will look at this message and the {n} before it. You can follow the report in Privacy → Reports you filed.',
      reportRef: 'Reference: {id}',
      privacyTitle: 'Privacy',
      requestsTitle: 'Requests to see your data',
      requestsExplain: 'Support staff can only see your data for a request you agree to. Every access is recorded in the access log below.',
      requestsNone: 'No one is asking to see your data.',
      requestWho: 'Staff member {staff} of {org} asks to see your data',
      requestFields: 'What they would see',
      requestPurpose: 'Why',
      requestAskedAt: 'Asked on',
      requestAgree: 'Agree',
      requestDeclineGrant: 'Decline',
      requestAgreedState: 'You agreed to this request.',
      requestDeclinedState: 'You declined this request.',
      noticesTitle: 'Notices',
      noticesNone: 'Moderators have made no decisions about your messages.',
      noticeDecision: 'Moderators’ decision: {decision}',
      noticeWhen: 'When',
      noticeReason: 'Reported as',
      noticeMessage: 'About',
      noticeMessageIn: 'your message #{seq} in {chat}',
      noticeUntil: 'Until',
      accessTitle: 'Who accessed your data',
      accessExplain: 'Every time someone at the service reads or moves your data, it is recorded in a public, append-only ledger. This device checks each entry against the ledger itself.',
      accessChecking: 'Checking the access log against the ledger…',
      accessCheckAgain: 'Check again',
      accessVerifiedShort: 'Verified on this device (ledger size {n})',
      accessVerifiedFirst: 'Every entry below was checked on this device against the ledger’s tree head of size {n}. This is the first tree head this device has seen.',
      accessVerifiedExt: 'Every entry below was checked on this device against the ledger’s tree head of size {n} (it extends the head of size {prev} this device saw before).',
      accessHeadInfo: 'Ledger {origin}, tree head signed {time}',
      accessNone: 'No one has accessed your data.',
      accessAllowed: 'Allowed',
      accessRefused: 'Refused',
      accessWhat: 'What',
      accessWho: 'By whom',
      accessByStaff: 'staff member {staff} of {org}',
      accessPurpose: 'Purpose',
      accessTicket: 'Ticket',
      accessRoles: 'Roles',
      accessRequester: 'Requested by',
      accessFrom: 'From',
      accessRegion: 'Region',
      accessBasis: 'Legal basis',
      accessRefusal: 'Refused because',
      accessProof: 'Verified in the ledger (entry #{index})',
      accessNotYet: 'Not in the ledger yet',
      unprovenTitle: 'Recorded, not yet in the ledger',
      unprovenExplain: 'These accesses were recorded but the ledger has not included them yet, so they could not be checked. Check again later.',
      accessTampered: 'The access log could not be trusted: the ledger failed verification on this device.',
      dataMapTitle: 'Where your data is',
      dmHome: 'Your home region',
      dmNode: 'The node this device uses',
      dmKeptAbroad: 'Kept outside your home region',
      dmKeptAbroadNone: 'Nothing',
      dmKeptAbroadWhat: 'What is kept there',
      dmRegion: '{name} (region {code}), {country}',
      dmRegionShort: '{country}, region {code}',
      dmCategories: 'What is kept about you',
      dmCategoriesExplain: 'Open a kind of data to see where it is stored, how it is protected, and from which countries it may be reached.',
      dmStoredIn: 'Stored in {where}',
      dmAlsoFrom: 'may be reached from {list}',
      dmFields: 'What it holds',
      dmStored: 'Stored in',
      dmProtection: 'Protection',
      dmReach: 'Who may reach it',
      dmSeeDisclosure: '(see the disclosure below)',
      dmDisclosures: 'Countries outside your home region',
      dmDisclosuresExplain: 'What the law of each country gives you, and what the people there must do.',
      dmTransfers: 'Transfers of your data',
      dmTransfersNone: 'Your data has not been transferred anywhere.',
      dmReports: 'Reports kept about you',
      dmConsent: 'Your agreement',
      dmConsentStanding: 'Status: {standing}',
      dmDisclosureVersion: 'Disclosures version {v}',
      dmConsentHistory: 'History',
      dmOther: 'Other details',
      myReportsTitle: 'Reports you filed',
      myReportsNone: 'You haven’t reported anything.',
      reportFiledAt: 'Filed on',
      reportState: 'Status',
      reportDecision: 'Decision',
      reportNoDecision: 'Not decided yet',
      reportRefLabel: 'Reference',
      exportTitle: 'Download your data',
      exportExplain: 'A JSON file with everything the service keeps about you.',
      exportLink: 'Download my data',
      eraseTitle: 'Erase your account',
      eraseExplain: 'This erases your account and everything the service keeps about you (listed under “Where your data is”), and removes it from this device. Messages you already sent stay with the people who received them.',
      eraseWarning: 'This cannot be undone.',
      eraseLabel: 'To confirm, type your handle ({handle})',
      eraseSubmit: 'Erase my account',
      eraseFailed: 'The account was not erased: {msg}',
      eraseNotConfirmed: 'the app did not confirm the erasure',
      erasedTitle: 'Account erased',
      erasedText: 'Your account was erased on the service: your data key was destroyed and your account, devices and queues are gone. The history on this device stays here until you delete its folder.',
      settingsTitle: 'Settings',
      devicesTitle: 'Your devices',
      devicesNone: 'No devices.',
      deviceUnnamed: 'Unnamed device',
      thisDevice: 'This device',
      deviceLinked: 'Linked {at}',
      deviceLastSeen: 'last seen {at}',
      deviceNeverSeen: 'not seen yet',
      revoke: 'Remove',
      revokeNamed: 'Remove {name}',
      revokeQuestion: 'Remove {name}? It will stop receiving your messages at once.',
      revoked: '{name} was removed.',
      approveTitle: 'Add a device',
      approveExplain: 'On the new device, run `kizuna device link`. It shows a code: type it here.',
      approveLabel: 'Code shown on the new device',
      approveSubmit: 'Approve',
      approveNeedCode: 'Enter the code the new device shows.',
      approveDone: 'Device {id} is now linked to your account.',
      approveFailed: 'The device was not approved: {msg}',
      blockedTitle: 'Blocked people',
      blockedExplain: 'Blocked people cannot send you messages or add you to chats.',
      blockedNone: 'You haven’t blocked anyone.',
      blockedSince: 'since {at}',
      blockLabel: 'Block someone (handle)',
      blockSubmit: 'Block',
      blockedDone: '{handle} is blocked.',
      unblock: 'Unblock',
      unblockNamed: 'Unblock {handle}',
      unblocked: '{handle} is unblocked.',
      contactsTitle: 'Contacts',
      contactsExplain: 'People in your contacts can add you to chats directly. Anyone else starts with a chat request you can accept or decline.',
      contactsNone: 'No contacts yet.',
      contactLabel: 'Add a contact (handle)',
      contactAdd: 'Add',
      contactRemove: 'Remove',
      contactRemoveNamed: 'Remove {handle} from your contacts',
      tamperTitle: 'THE TRANSPARENCY LEDGER FAILED VERIFICATION ON THIS DEVICE.',
      tamperAdvice: 'The record of who accessed your data may have been altered. Do not rely on the access log. Keep this message and tell the operator or your data protection authority.',
      keysTamperTitle: 'KEYS THAT ARE NOT IN THE KEY LOG.',
      keysTamperAdvice: 'The server handed this device keys that the public key log does not show as the person\'s own, or added a device to your account that none of your devices approved. Someone may be listening in. Nothing was sent to those keys. If a device on your account is not yours, revoke it in Settings; keep this message and tell the operator.',
      memberKeysTitle: 'A DEVICE IN A CHAT IS NOT IN THE KEY LOG.',
      memberKeysAdvice: 'A chat holds a device that calls itself someone\'s, but the public key log does not show it as theirs. It may be someone else listening in, and what you send in that chat reaches it. Trust nothing it sends and send nothing more there until you have compared safety numbers with that person in person; keep this message and tell the operator.',
      cat_profile: 'Profile',
      cat_contacts: 'Contacts',
      cat_blocks: 'Blocked people',
      cat_block_hashes: 'Block checks',
      cat_phone_index: 'Phone number lookup',
      cat_access_records: 'Access records',
      cat_reports: 'Reports',
      cat_moderation: 'Moderation',
      cat_consent: 'Agreements',
      cat_account: 'Account',
      cat_messages_in_transit: 'Messages on their way',
      cat_follows: 'Official accounts you follow',
      cat_files_sent: 'Files you send',
      cat_files_received: 'Files sent to you',
      cat_name: 'Name',
      cat_phone: 'Phone number',
      cat_email: 'Email address',
      cat_handles: 'Contacts’ handles',
      act_read: 'Read',
      act_write: 'Changed',
      act_export: 'Exported',
      act_transfer: 'Transferred',
      act_erase: 'Erased',
      act_delete: 'Deleted',
      state_open: 'Open',
      state_resolved: 'Resolved',
      state_dismissed: 'Dismissed',
      consent_agreed: 'You agreed',
      consent_withdrawn: 'You withdrew your agreement',
      consent_none: 'Not asked yet',
      consent_needed: 'Your agreement is needed',
      consent_not_needed: 'Nothing to agree to',
      // The node's own sentences in the data map, exactly as it writes them
      // (crates/kizuna-vault/src/data_map.rs, crates/kizuna-node/src/disclosures.rs).
      // An English page shows the node's text itself; another language shows
      // its translation below only when the node's text is exactly this.
      dmFields_profile: 'name, phone, email',
      dmFields_contacts: 'handles',
      dmFields_blocks: 'the people you blocked, and since when',
      dmFields_block_hashes: 'a keyed hash of each pair (you, someone you blocked)',
      dmFields_phone_index: 'keyed hash of your phone number',
      dmFields_access_records: 'transfers of your data',
      dmFields_reports: 'abuse reports you filed: the messages you revealed, reason, note, outcome',
      dmFields_moderation: 'decisions about your reported messages, and your appeals',
      dmFields_consent: 'your agreements to the foreign countries that may reach your data, and withdrawals',
      dmFields_account: 'handle, device ids, device public keys, MLS key packages',
      dmFields_messages_in_transit: 'MLS ciphertext waiting for your devices',
      dmFields_follows: 'the official accounts you follow, the chat you follow each through',
      dmFields_files_sent: 'the photos and files you send, sealed, their size and which chat they were sent to',
      dmFields_files_received: "photos and files others sent you, sealed, kept in their sender's home region",
      dmSealed: "encrypted with your own data key, which region {region}'s key wraps; that key is kept outside every database",
      dmProt_block_hashes: "keyed hashes (HMAC-SHA-256) with the node's secret, so the node can refuse what a blocked person sends you; no handle or account is stored with them",
      dmProt_phone_index: "a keyed hash (HMAC-SHA-256) with the region's secret; the number itself is not stored",
      dmProt_account: 'not encrypted at rest: needed to route messages; holds no name, phone or e-mail',
      dmProt_messages_in_transit: 'end-to-end encrypted: the service has no key that opens it; deleted once every recipient device has it',
      dmProt_follows: 'not encrypted at rest: which accounts you follow is routing, like your chats; what you tell them is end-to-end encrypted to the organisation\'s own devices',
      dmFilesSealed: "sealed on the sending device with a key of the file's own, which only the chat's devices receive (inside the end-to-end encrypted message); the service has no key that opens it; deleted {days} days after it was sent",
      dmPurpose_block_hashes: 'to refuse what someone you blocked sends you',
      dmPurpose_account: 'to route messages to your devices',
      dmPurpose_messages_in_transit: 'to hold it until your devices fetch it',
      dmPurpose_follows: 'to bring you the announcements of the accounts you follow',
      dmWhyAtNode: 'kept by the node that serves you, which runs in {node}, not in your home region: {purpose}',
      dmWhyKeptAbroad: 'The node that serves you runs in {node}, outside your home region {home}. To route your messages it keeps your account (handle, device keys), the keyed hashes that enforce your blocks and the ciphertext waiting for your devices in {nodeName}. Your personal data stays sealed in region {homeRegion}; the node reaches it from {nodeCountry} only to answer you, and each time is recorded below.',
      dmConsequence_not_needed: 'No country outside {country} may reach your data in region {region}: there is nothing to agree to.',
      dmConsequence_agreed: "You agreed to region {region}'s disclosures (version {version}): your data may be reached from {countries} as they say, each time recorded. You may withdraw at any time with `kizuna me consent withdraw`; what follows is stated there.",
      dmConsequence_withdrawn: 'You withdrew your agreement. {withheld}',
      dmConsequence_withdrawnAt: 'You withdrew your agreement at {at}. {withheld}',
      dmConsequence_needed: 'You have not agreed to the current disclosures of your home region {region} (version {version}): you never did, your home region changed, or their text did. {withheld}',
      dmWithheldAbroad: 'No country outside {home} may reach your data now. This node runs in {node}, so it serves you only to show, export or erase your data and to take your agreement: messaging, contacts, look-ups and everything else stop, and no staff member can read your data under any grant. What it already keeps in {node} to route your messages (your account, device keys and ciphertext waiting for your devices) stays until you erase your account. To be served again, agree with `kizuna me consent agree`; otherwise erase your account (`kizuna me delete --yes`) or ask the operator to move you to a region in {node}.',
      dmWithheldHome: 'No country outside {home} may reach your data now: staff in {countries} can no longer read it under any grant. This node runs in {home} and serves you as before. Agree again with `kizuna me consent agree`.',
      dmIfWithdrawn: 'If you withdraw your agreement: {withheld}',
      key_protection_system: 'Protection in that country',
      key_recipient_measures: 'What the recipients must do',
      key_transfer_basis: 'Legal basis for the transfer',
      key_country_name: 'Country',
      key_country: 'Country',
      key_at: 'When',
      key_step: 'Step',
      key_region: 'Region',
      key_version: 'Version',
      key_countries: 'Countries',
      key_device_id: 'Device',
      key_expires_at: 'Expires',
    },
    ja: {
      appName: 'Kizuna',
      language: '言語',
      chats: 'トーク',
      newChat: '新しいトーク',
      newChatTitle: '新しいトークを始める',
      handlesLabel: '相手のハンドル（カンマ区切り）',
      handlesPlaceholder: 'bob, carol',
      nameLabel: 'トーク名（任意）',
      create: 'トークを始める',
      cancel: 'キャンセル',
      needHandle: 'ハンドルを1つ以上入力してください。',
      noChats: 'トークはまだありません。「新しいトーク」から始めましょう。',
      chooseChat: 'トークを選ぶと、ここに表示されます。',
      back: 'トーク一覧に戻る',
      onlyYou: '自分のみ',
      you: '自分',
      members: 'メンバー：{list}',
      unreadCount: '未読 {n} 件',
      messages: 'メッセージ',
      composerLabel: 'メッセージ',
      composerPlaceholder: 'メッセージを入力（Enter で送信、Shift+Enter で改行）',
      send: '送信',
      sending: '送信中…',
      cardSend: '送信',
      announcementFrom: '{org}（@{handle}）',
      announcementDismiss: '閉じる',
      officialOpen: '公式アカウント',
      officialTitle: '公式アカウントをフォロー',
      officialHandleLabel: '公式アカウントのハンドル',
      officialLookup: '確認',
      officialFollow: 'フォロー',
      officialNot: '@{handle} は公式アカウントではありません。',
      officialRevoked: '@{handle} は公式アカウントではなくなりました。認証が取り消されています（{reason}）。',
      officialBadge: '{org} の公式アカウント',
      officialKind_municipality: '市区町村',
      officialKind_prefecture: '都道府県',
      officialKind_ministry: '省庁',
      officialKind_agency: '行政機関',
      officialKind_hospital: '病院',
      officialKind_school: '学校',
      officialKind_utility: '公共事業',
      officialKind_other: 'その他の組織',
      officialKeeps: '送った内容の保管先：{where}（{country}）',
      officialContact: '個人情報の問い合わせ先：{contact}',
      officialChecked: 'この端末がキーログで確認しました。',
      officialTag: '公式',
      officialUnfollow: 'フォローをやめる',
      officialErase: '送った内容の消去も依頼する',
      officialUnfollowQ: '@{handle} のフォローをやめて、このチャットを退出しますか？',
      officialUnfollowed: '@{handle} のフォローをやめました。',
      officialErasureAsked: '@{handle} のフォローをやめました。送った内容の消去依頼は、その組織自身の端末にエンドツーエンドで届けました。',
      severity_emergency: '緊急',
      severity_warning: '警報',
      severity_info: 'お知らせ',
      announcementTamperTitle: '警告：お知らせを拒否しました。',
      announcementTamperAdvice: 'この端末が受け取ったお知らせは、公式アカウントが署名した内容と一致しません。ノードが改ざんしたか作り出したものです。表示していません。このメッセージを保存し、運営者に伝えてください。',
      answered: '#{seq} への回答',
      erasureAsked: '送った内容の消去を依頼しました',
      segmentsAsked: '{segments} のお知らせを依頼しました',
      sendFailed: '送信できませんでした：{msg}',
      attach: 'ファイルを添付',
      attachHint: 'ここにファイルをドロップすると送信します',
      sendingFile: '{name} を送信中…',
      fileSave: '保存',
      fileLoadFailed: 'ファイルを開けませんでした：{msg}',
      createFailed: 'トークを始められませんでした：{msg}',
      loadFailed: 'メッセージを読み込めませんでした：{msg}',
      today: '今日',
      yesterday: '昨日',
      unopened: 'このメッセージは開けませんでした',
      reason: '理由：{reason}',
      loading: '読み込み中…',
      noMessages: 'メッセージはまだありません。',
      connecting: '接続中…',
      inactive: 'このトークのメンバーではなくなりました。',
      networkError: 'この端末の Kizuna アプリに接続できません。',
      newMessage: '{sender} さんから新着メッセージ：{text}',
      newMessageIn: '{chat} で {sender} さんから新着メッセージ',
      sessionTitle: 'セッションが終了しました',
      sessionEnded: 'このページのセッションは終了しました。`kizuna app` が表示したアドレスをもう一度開いてください。',
      // v2
      navChats: 'トーク',
      navPrivacy: 'プライバシー',
      navSettings: '設定',
      sections: 'セクション',
      yes: 'はい',
      no: 'いいえ',
      none: 'なし',
      close: '閉じる',
      loadFailedShort: '読み込めませんでした：{msg}',
      actionFailed: '操作できませんでした：{msg}',
      handlePlaceholder: 'ハンドル',
      needOneHandle: 'ハンドルを入力してください。',
      requestTag: 'リクエスト',
      leftTag: '退出済み',
      membersTitle: 'メンバー',
      membersFailed: 'メンバーを読み込めませんでした：{msg}',
      safetyNumber: '安全番号',
      safetyNumberNamed: '{handle} との安全番号',
      safetyTitle: '{handle} との安全番号',
      safetyExplain: '{handle} さんの画面の番号と、対面か別の手段で見比べてください。すべて一致したら、確認済みにします。',
      safetyText: 'QR コード用のテキスト：',
      safetyUnverified: '未確認',
      safetyVerified: '確認済み',
      safetyChanged: '確認した後に鍵が変わりました',
      safetyConfirm: '確認済みにする',
      safetyFailed: '安全番号を読み込めませんでした：{msg}',
      keysChanged: '{handle} さんの鍵が、確認した後に変わりました。このチャットを信頼する前に、安全番号をもう一度見比べてください。',
      deviceCountOne: '端末 1 台',
      deviceCount: '端末 {n} 台',
      removeMember: '削除',
      removeMemberNamed: '{handle} さんをこのトークから削除',
      removeMemberFailed: '削除できませんでした：{msg}',
      memberAdded: '{handle} さんをトークに追加しました。',
      memberRemoved: '{handle} さんをトークから削除しました。',
      addMemberLabel: 'メンバーを追加（ハンドル）',
      addMember: '追加',
      addMemberFailed: '追加できませんでした：{msg}',
      leaveChat: 'このトークを退出',
      leaveQuestion: 'このトークを退出しますか？メッセージが届かなくなり、戻るにはメンバーに追加し直してもらう必要があります。',
      leaveConfirm: '退出する',
      requestTitle: 'トークのリクエスト',
      requestFrom: '{from} さんがあなたとトークしたがっています。この人は連絡先に入っていません。',
      requestExplain: '届いたメッセージは読めますが、承認するまで返信はできません。拒否するとトークは消えます。ブロックすると、この人からは何も届かなくなります。',
      requestAccept: '承認',
      requestDecline: '拒否',
      requestBlock: '拒否してブロック',
      requestDeclined: 'トークのリクエストを拒否しました。',
      requestBlocked: 'トークのリクエストを拒否し、送信者をブロックしました。',
      messageMenu: 'メッセージのメニュー',
      reportMenu: '通報…',
      reportTitle: 'このメッセージを通報',
      reportQuoteFrom: '{sender} さんのメッセージ：',
      reportExplain: '通報すると、このメッセージが実際に送られた証明とともにモデレーターに開示されます。下で以前のメッセージを含めない限り、トークのほかの内容は共有されません。',
      reportReasonLabel: '理由',
      reason_spam: 'スパム・詐欺',
      reason_harassment: '嫌がらせ・いじめ',
      reason_illegal: '違法なコンテンツ',
      reason_other: 'その他',
      reportNoteLabel: 'モデレーターへのメモ（任意）',
      reportPrecedingLabel: '直前のメッセージも含める（0〜20 件）',
      reportPrecedingHint: '直前のメッセージがあると、モデレーターが状況を理解しやすくなります。それらのメッセージもモデレーターに見えます。',
      reportSubmit: '通報する',
      reportFailed: '通報を送れませんでした：{msg}',
      reportDoneTitle: '通報しました',
      reportDoneTextOne: 'ご協力ありがとうございます。モデレーターがこのメッセージを確認します。経過は「プライバシー」→「あなたの通報」で確認できます。',
      reportDoneText: 'ご協力ありがとうございます。モデレーターがこのメッセージと直前の {n} 件を確認します。経過は「プライバシー」→「あなたの通報」で確認できます。',
      reportRef: '受付番号：{id}',
      privacyTitle: 'プライバシー',
      requestsTitle: 'あなたのデータの閲覧リクエスト',
      requestsExplain: 'サポート担当者があなたのデータを見られるのは、あなたが同意したリクエストの範囲内だけです。すべてのアクセスは下のアクセス記録に残ります。',
      requestsNone: 'あなたのデータの閲覧リクエストはありません。',
      requestWho: '{org} の担当者 {staff} があなたのデータの閲覧を求めています',
      requestFields: '閲覧される項目',
      requestPurpose: '目的',
      requestAskedAt: 'リクエスト日時',
      requestAgree: '同意する',
      requestDeclineGrant: '拒否する',
      requestAgreedState: 'このリクエストに同意しました。',
      requestDeclinedState: 'このリクエストを拒否しました。',
      noticesTitle: 'お知らせ',
      noticesNone: 'あなたのメッセージについて、モデレーターの判断はありません。',
      noticeDecision: 'モデレーターの判断：{decision}',
      noticeWhen: '日時',
      noticeReason: '通報の理由',
      noticeMessage: '対象',
      noticeMessageIn: '{chat} でのあなたのメッセージ #{seq}',
      noticeUntil: '期限',
      accessTitle: 'あなたのデータへのアクセス',
      accessExplain: 'サービスの誰かがあなたのデータを読んだり移したりするたびに、公開の追記専用台帳に記録されます。この端末が各記録を台帳と照合しています。',
      accessChecking: 'アクセス記録を台帳と照合しています…',
      accessCheckAgain: 'もう一度確認',
      accessVerifiedShort: 'この端末で検証済み（台帳のサイズ {n}）',
      accessVerifiedFirst: '以下のすべての記録は、この端末でサイズ {n} の台帳のツリーヘッドと照合済みです。この端末が台帳のツリーヘッドを見るのは今回が初めてです。',
      accessVerifiedExt: '以下のすべての記録は、この端末でサイズ {n} の台帳のツリーヘッドと照合済みです（この端末が以前に確認したサイズ {prev} のヘッドを引き継いでいます）。',
      accessHeadInfo: '台帳 {origin}、ツリーヘッドの署名日時 {time}',
      accessNone: 'あなたのデータへのアクセスはありません。',
      accessAllowed: '許可',
      accessRefused: '拒否',
      accessWhat: '内容',
      accessWho: 'アクセスした人',
      accessByStaff: '{org} の担当者 {staff}',
      accessPurpose: '目的',
      accessTicket: 'チケット',
      accessRoles: '権限',
      accessRequester: '依頼者',
      accessFrom: 'アクセス元',
      accessRegion: 'リージョン',
      accessBasis: '法的根拠',
      accessRefusal: '拒否の理由',
      accessProof: '台帳で検証済み（記録 #{index}）',
      accessNotYet: 'まだ台帳にありません',
      unprovenTitle: '記録済み・台帳への反映待ち',
      unprovenExplain: 'これらのアクセスは記録されていますが、まだ台帳に含まれていないため照合できませんでした。あとでもう一度確認してください。',
      accessTampered: 'アクセス記録は信頼できません。この端末で台帳の検証に失敗しました。',
      dataMapTitle: 'あなたのデータの保管場所',
      dmHome: 'あなたのホームリージョン',
      dmNode: 'この端末が使うノード',
      dmKeptAbroad: 'ホームリージョンの外に保管しているもの',
      dmKeptAbroadNone: 'なし',
      dmKeptAbroadWhat: 'そこで保管しているもの',
      dmRegion: '{name}（リージョン {code}）、{country}',
      dmRegionShort: '{country}、リージョン {code}',
      dmCategories: '保管しているあなたの情報',
      dmCategoriesExplain: '種類を開くと、保管場所、保護のしかた、どの国からアクセスされうるかが表示されます。',
      dmStoredIn: '保管場所：{where}',
      dmAlsoFrom: '{list} からアクセスされる場合があります',
      dmFields: '含まれる情報',
      dmStored: '保管場所',
      dmProtection: '保護',
      dmReach: 'アクセスしうる国',
      dmSeeDisclosure: '（下の情報提供を参照）',
      dmDisclosures: 'ホームリージョン以外の国',
      dmDisclosuresExplain: '各国の法律による保護と、その国の受領者が講じる措置です。',
      dmTransfers: 'あなたのデータの移転',
      dmTransfersNone: 'あなたのデータはどこにも移転されていません。',
      dmReports: 'あなたに関する通報',
      dmConsent: 'あなたの同意',
      dmConsentStanding: '状態：{standing}',
      dmDisclosureVersion: '情報提供のバージョン {v}',
      dmConsentHistory: '履歴',
      dmOther: 'その他の情報',
      myReportsTitle: 'あなたの通報',
      myReportsNone: '通報したものはありません。',
      reportFiledAt: '通報日時',
      reportState: '状態',
      reportDecision: '判断',
      reportNoDecision: 'まだ判断されていません',
      reportRefLabel: '受付番号',
      exportTitle: 'データのダウンロード',
      exportExplain: 'サービスが保管しているあなたの情報をすべて含む JSON ファイルです。',
      exportLink: 'データをダウンロード',
      eraseTitle: 'アカウントの削除',
      eraseExplain: 'アカウントと、サービスが保管しているあなたの情報（「あなたのデータの保管場所」に一覧があります）をすべて削除し、この端末からも消去します。すでに送ったメッセージは、受け取った人の手元に残ります。',
      eraseWarning: 'この操作は取り消せません。',
      eraseLabel: '確認のため、あなたのハンドル（{handle}）を入力してください',
      eraseSubmit: 'アカウントを削除',
      eraseFailed: 'アカウントを削除できませんでした：{msg}',
      eraseNotConfirmed: 'アプリが削除を確認しませんでした',
      erasedTitle: 'アカウントを削除しました',
      erasedText: 'サービス上のあなたのアカウントを削除しました。データ鍵は破棄され、アカウント・端末・未配信のメッセージは消去されています。この端末内の履歴は、そのフォルダを削除するまで残ります。',
      settingsTitle: '設定',
      devicesTitle: 'あなたの端末',
      devicesNone: '端末はありません。',
      deviceUnnamed: '名前のない端末',
      thisDevice: 'この端末',
      deviceLinked: '{at} にリンク',
      deviceLastSeen: '最終接続 {at}',
      deviceNeverSeen: 'まだ接続していません',
      revoke: '削除',
      revokeNamed: '{name} を削除',
      revokeQuestion: '{name} を削除しますか？この端末にはすぐにメッセージが届かなくなります。',
      revoked: '{name} を削除しました。',
      approveTitle: '端末を追加',
      approveExplain: '新しい端末で `kizuna device link` を実行すると、コードが表示されます。そのコードをここに入力してください。',
      approveLabel: '新しい端末に表示されたコード',
      approveSubmit: '承認',
      approveNeedCode: '新しい端末に表示されたコードを入力してください。',
      approveDone: '端末 {id} をアカウントにリンクしました。',
      approveFailed: '端末を承認できませんでした：{msg}',
      blockedTitle: 'ブロックした人',
      blockedExplain: 'ブロックした人は、あなたにメッセージを送ったり、トークに追加したりできません。',
      blockedNone: 'ブロックしている人はいません。',
      blockedSince: '{at} から',
      blockLabel: 'ブロックする（ハンドル）',
      blockSubmit: 'ブロック',
      blockedDone: '{handle} さんをブロックしました。',
      unblock: 'ブロック解除',
      unblockNamed: '{handle} さんのブロックを解除',
      unblocked: '{handle} さんのブロックを解除しました。',
      contactsTitle: '連絡先',
      contactsExplain: '連絡先に入っている人は、あなたを直接トークに追加できます。それ以外の人からは、承認か拒否を選べるトークのリクエストが届きます。',
      contactsNone: '連絡先はまだありません。',
      contactLabel: '連絡先を追加（ハンドル）',
      contactAdd: '追加',
      contactRemove: '削除',
      contactRemoveNamed: '{handle} さんを連絡先から削除',
      tamperTitle: '警告：この端末で透明性台帳の検証に失敗しました。',
      tamperAdvice: 'あなたのデータへのアクセス記録が改ざんされている可能性があります。アクセス記録を信用しないでください。このメッセージを保存し、運営者または個人情報保護の監督機関に連絡してください。',
      memberKeysTitle: '警告：鍵ログにない端末がチャットにいます。',
      memberKeysAdvice: 'あるチャットに、本人の端末を名乗っていても公開鍵ログには本人のものとして記録されていない端末がいます。第三者が盗聴している可能性があり、そのチャットで送る内容はその端末にも届きます。本人と直接会って安全番号を確かめるまで、その端末から届く内容を信用せず、そのチャットには何も送らないでください。このメッセージを保存して運営者に連絡してください。',
      keysTamperTitle: '警告：鍵ログにない鍵です。',
      keysTamperAdvice: 'サーバーが、公開鍵ログに本人のものとして記録されていない鍵をこの端末に渡したか、あなたの端末が承認していない端末をあなたのアカウントに追加しました。盗聴されている可能性があります。その鍵には何も送信していません。自分のものでない端末があれば設定から取り消し、このメッセージを保存して運営者に連絡してください。',
      cat_profile: 'プロフィール',
      cat_contacts: '連絡先',
      cat_blocks: 'ブロックした人',
      cat_block_hashes: 'ブロックの照合用データ',
      cat_phone_index: '電話番号の検索用データ',
      cat_access_records: 'アクセス記録',
      cat_reports: '通報',
      cat_moderation: 'モデレーション',
      cat_consent: '同意',
      cat_account: 'アカウント',
      cat_messages_in_transit: '配送中のメッセージ',
      cat_follows: 'フォローしている公式アカウント',
      cat_files_sent: '送ったファイル',
      cat_files_received: '受け取ったファイル',
      cat_name: '名前',
      cat_phone: '電話番号',
      cat_email: 'メールアドレス',
      cat_handles: '連絡先のハンドル',
      act_read: '閲覧',
      act_write: '変更',
      act_export: 'エクスポート',
      act_transfer: '移転',
      act_erase: '削除',
      act_delete: '削除',
      state_open: '受付中',
      state_resolved: '対応済み',
      state_dismissed: '却下',
      consent_agreed: '同意済み',
      consent_withdrawn: '同意を撤回済み',
      consent_none: '未確認',
      consent_needed: '同意が必要',
      consent_not_needed: '同意は不要',
      dmFields_profile: '名前、電話番号、メールアドレス',
      dmFields_contacts: '連絡先のハンドル',
      dmFields_blocks: 'あなたがブロックした人と、いつからブロックしているか',
      dmFields_block_hashes: 'あなたとあなたがブロックした人の組ごとの鍵付きハッシュ',
      dmFields_phone_index: 'あなたの電話番号の鍵付きハッシュ',
      dmFields_access_records: 'あなたのデータの移転の記録',
      dmFields_reports: 'あなたが行った通報：開示したメッセージ、理由、メモ、結果',
      dmFields_moderation: '通報されたあなたのメッセージについての判断と、あなたの異議申し立て',
      dmFields_consent: 'あなたのデータにアクセスしうる外国への同意と、その撤回',
      dmFields_account: 'ハンドル、端末 ID、端末の公開鍵、MLS の鍵パッケージ',
      dmFields_messages_in_transit: 'あなたの端末への配信を待っている MLS 暗号文',
      dmFields_follows: 'あなたがフォローしている公式アカウントと、それぞれをフォローしているチャット',
      dmFields_files_sent: 'あなたが送った写真やファイル（封印済み）、そのサイズと送信先のトーク',
      dmFields_files_received: '他の人があなたに送った写真やファイル（封印済み、送信者のホームリージョンで保管）',
      dmSealed: 'あなた専用のデータ鍵で暗号化されています。データ鍵はリージョン {region} の鍵で暗号化（ラップ）されており、その鍵はどのデータベースとも別の場所に保管されています。',
      dmProt_block_hashes: 'ノードの秘密鍵を使った鍵付きハッシュ（HMAC-SHA-256）です。これにより、ブロックした人から届くものをノードが拒否できます。ハンドルやアカウントは一緒に保管されません。',
      dmProt_phone_index: 'リージョンの秘密鍵を使った鍵付きハッシュ（HMAC-SHA-256）です。電話番号そのものは保管されません。',
      dmProt_account: '保存時には暗号化されていません。メッセージの配送に必要なためです。名前、電話番号、メールアドレスは含みません。',
      dmProt_messages_in_transit: 'エンドツーエンドで暗号化されています。サービスはこれを開く鍵を持っていません。受信者のすべての端末に届いた時点で削除されます。',
      dmProt_follows: '保存時には暗号化されていません。どのアカウントをフォローしているかは、チャットと同じく配送のための情報です。あなたが送る内容は、その組織自身の端末に向けてエンドツーエンドで暗号化されます。',
      dmFilesSealed: '送信する端末で、そのファイル専用の鍵を使って封印されます。その鍵はエンドツーエンドで暗号化されたメッセージに入れて、このトークに参加している端末にだけ届けられます。サービスはこれを開く鍵を持っていません。送信から{days}日後に削除されます。',
      dmPurpose_block_hashes: 'あなたがブロックした人から届くものを拒否するため',
      dmPurpose_account: 'あなたの端末にメッセージを配送するため',
      dmPurpose_messages_in_transit: 'あなたの端末が受け取るまで預かっておくため',
      dmPurpose_follows: 'フォローしているアカウントのお知らせを届けるため',
      dmWhyAtNode: '{purpose}、あなたを担当するノードが保管しています。このノードはあなたのホームリージョンではなく、{node} で稼働しています。',
      dmWhyKeptAbroad: 'あなたを担当するノードは、あなたのホームリージョン（{home}）の外、{node} で稼働しています。メッセージを配送するため、このノードはあなたのアカウント（ハンドル、端末の鍵）、ブロックを実行するための鍵付きハッシュ、あなたの端末への配信を待っている暗号文を {nodeName} で保管しています。あなたの個人データはリージョン {homeRegion} で封印されたままです。ノードが {nodeCountry} からそれにアクセスするのはあなたに応答するときだけで、そのたびに下に記録されます。',
      dmConsequence_not_needed: '{country} 以外の国から、リージョン {region} にあるあなたのデータにアクセスすることはできません。同意が必要なものはありません。',
      dmConsequence_agreed: 'リージョン {region} の情報提供（バージョン {version}）に同意しています。あなたのデータには、その内容のとおり {countries} からアクセスされる場合があり、そのたびに記録されます。同意は `kizuna me consent withdraw` でいつでも撤回できます。撤回するとどうなるかは、そこに示されます。',
      dmConsequence_withdrawn: '同意を撤回しました。{withheld}',
      dmConsequence_withdrawnAt: '{at} に同意を撤回しました。{withheld}',
      dmConsequence_needed: 'ホームリージョン {region} の現在の情報提供（バージョン {version}）に同意していません。一度も同意していないか、ホームリージョンが変わったか、情報提供の内容が変わったためです。{withheld}',
      dmWithheldAbroad: '現在、{home} 以外の国からあなたのデータにアクセスすることはできません。このノードは {node} で稼働しているため、あなたのデータの表示・エクスポート・削除と、同意の受け付けにしか対応しません。メッセージ、連絡先、検索などはすべて停止し、スタッフはどの許可によってもあなたのデータを読むことができません。メッセージの配送のためにこのノードがすでに {node} で保管しているもの（あなたのアカウント、端末の鍵、あなたの端末への配信を待っている暗号文）は、アカウントを削除するまで残ります。再び利用するには `kizuna me consent agree` で同意してください。同意しない場合は、アカウントを削除する（`kizuna me delete --yes`）か、{node} にあるリージョンへの移行を運営者に依頼してください。',
      dmWithheldHome: '現在、{home} 以外の国からあなたのデータにアクセスすることはできません。{countries} のスタッフは、どの許可によってもあなたのデータを読むことができません。このノードは {home} で稼働しており、これまでどおり利用できます。改めて同意するには `kizuna me consent agree` を使ってください。',
      dmIfWithdrawn: '同意を撤回した場合：{withheld}',
      key_protection_system: 'その国の保護制度',
      key_recipient_measures: '受領者が講じる措置',
      key_transfer_basis: '移転の法的根拠',
      key_country_name: '国',
      key_country: '国',
      key_at: '日時',
      key_step: '内容',
      key_region: 'リージョン',
      key_version: 'バージョン',
      key_countries: '国',
      key_device_id: '端末',
      key_expires_at: '有効期限',
    },
    ko: {
      appName: 'Kizuna',
      language: '언어',
      chats: '채팅',
      newChat: '새 채팅',
      newChatTitle: '새 채팅 시작하기',
      handlesLabel: '대화 상대 핸들 (쉼표로 구분)',
      handlesPlaceholder: 'bob, carol',
      nameLabel: '채팅방 이름 (선택)',
      create: '채팅 시작',
      cancel: '취소',
      needHandle: '핸들을 하나 이상 입력하세요.',
      noChats: '아직 채팅이 없습니다. ‘새 채팅’으로 시작해 보세요.',
      chooseChat: '채팅을 선택하면 여기에 표시됩니다.',
      back: '채팅 목록으로',
      onlyYou: '나만',
      you: '나',
      members: '멤버: {list}',
      unreadCount: '읽지 않은 메시지 {n}개',
      messages: '메시지',
      composerLabel: '메시지',
      composerPlaceholder: '메시지 입력 (Enter로 전송, Shift+Enter로 줄바꿈)',
      send: '전송',
      sending: '전송 중…',
      cardSend: '보내기',
      announcementFrom: '{org} (@{handle})',
      announcementDismiss: '닫기',
      officialOpen: '공식 계정',
      officialTitle: '공식 계정 팔로우',
      officialHandleLabel: '공식 계정의 핸들',
      officialLookup: '확인',
      officialFollow: '팔로우',
      officialNot: '@{handle}은(는) 공식 계정이 아닙니다.',
      officialRevoked: '@{handle}은(는) 더 이상 공식 계정이 아닙니다. 인증이 취소되었습니다({reason}).',
      officialBadge: '{org} 공식 계정',
      officialKind_municipality: '시·군·구',
      officialKind_prefecture: '광역 자치단체',
      officialKind_ministry: '정부 부처',
      officialKind_agency: '행정 기관',
      officialKind_hospital: '병원',
      officialKind_school: '학교',
      officialKind_utility: '공공 서비스',
      officialKind_other: '기타 기관',
      officialKeeps: '보낸 내용의 보관 위치: {where} ({country})',
      officialContact: '개인정보 문의처: {contact}',
      officialChecked: '이 기기가 키 로그에서 확인했습니다.',
      officialTag: '공식',
      officialUnfollow: '팔로우 취소',
      officialErase: '보낸 내용의 삭제도 요청',
      officialUnfollowQ: '@{handle} 팔로우를 취소하고 이 채팅에서 나갈까요?',
      officialUnfollowed: '@{handle} 팔로우를 취소했습니다.',
      officialErasureAsked: '@{handle} 팔로우를 취소했습니다. 보낸 내용의 삭제 요청은 그 기관의 기기로 종단간 암호화되어 전달되었습니다.',
      severity_emergency: '긴급',
      severity_warning: '경보',
      severity_info: '알림',
      announcementTamperTitle: '경고: 공지를 거부했습니다.',
      announcementTamperAdvice: '이 기기가 받은 공지는 공식 계정이 서명한 내용과 다릅니다. 노드가 변조했거나 만들어 낸 것입니다. 표시하지 않았습니다. 이 메시지를 보관하고 운영자에게 알려 주세요.',
      answered: '#{seq}에 대한 답변',
      erasureAsked: '보낸 내용의 삭제를 요청했습니다',
      segmentsAsked: '{segments} 공지를 요청했습니다',
      sendFailed: '전송하지 못했습니다: {msg}',
      attach: '파일 첨부',
      attachHint: '여기에 파일을 놓으면 전송합니다',
      sendingFile: '{name} 전송 중…',
      fileSave: '저장',
      fileLoadFailed: '파일을 열지 못했습니다: {msg}',
      createFailed: '채팅을 시작하지 못했습니다: {msg}',
      loadFailed: '메시지를 불러오지 못했습니다: {msg}',
      today: '오늘',
      yesterday: '어제',
      unopened: '이 메시지를 열 수 없습니다',
      reason: '사유: {reason}',
      loading: '불러오는 중…',
      noMessages: '아직 메시지가 없습니다.',
      connecting: '연결 중…',
      inactive: '더 이상 이 채팅의 멤버가 아닙니다.',
      networkError: '이 기기의 Kizuna 앱에 연결할 수 없습니다.',
      newMessage: '{sender}님의 새 메시지: {text}',
      newMessageIn: '{chat}에서 {sender}님의 새 메시지',
      sessionTitle: '세션이 종료되었습니다',
      sessionEnded: '이 페이지의 세션이 종료되었습니다. `kizuna app`이 출력한 주소를 다시 여세요.',
      // v2
      navChats: '채팅',
      navPrivacy: '개인정보',
      navSettings: '설정',
      sections: '메뉴',
      yes: '예',
      no: '아니요',
      none: '없음',
      close: '닫기',
      loadFailedShort: '불러오지 못했습니다: {msg}',
      actionFailed: '처리하지 못했습니다: {msg}',
      handlePlaceholder: '핸들',
      needOneHandle: '핸들을 입력하세요.',
      requestTag: '요청',
      leftTag: '나감',
      membersTitle: '멤버',
      membersFailed: '멤버를 불러오지 못했습니다: {msg}',
      safetyNumber: '안전 번호',
      safetyNumberNamed: '{handle}님과의 안전 번호',
      safetyTitle: '{handle}님과의 안전 번호',
      safetyExplain: '{handle}님 화면의 번호와 직접 또는 다른 수단으로 비교하세요. 모두 일치하면 확인됨으로 표시하세요.',
      safetyText: 'QR 코드용 텍스트:',
      safetyUnverified: '확인 안 됨',
      safetyVerified: '확인됨',
      safetyChanged: '확인한 뒤 키가 바뀌었습니다',
      safetyConfirm: '확인됨으로 표시',
      safetyFailed: '안전 번호를 불러오지 못했습니다: {msg}',
      keysChanged: '{handle}님의 키가 확인한 뒤 바뀌었습니다. 이 채팅을 믿기 전에 안전 번호를 다시 비교하세요.',
      deviceCountOne: '기기 1대',
      deviceCount: '기기 {n}대',
      removeMember: '내보내기',
      removeMemberNamed: '{handle}님을 이 채팅에서 내보내기',
      removeMemberFailed: '내보내지 못했습니다: {msg}',
      memberAdded: '{handle}님을 채팅에 추가했습니다.',
      memberRemoved: '{handle}님을 채팅에서 내보냈습니다.',
      addMemberLabel: '멤버 추가 (핸들)',
      addMember: '추가',
      addMemberFailed: '추가하지 못했습니다: {msg}',
      leaveChat: '이 채팅에서 나가기',
      leaveQuestion: '이 채팅에서 나갈까요? 더 이상 메시지를 받지 않으며, 다시 들어오려면 다른 멤버가 추가해 주어야 합니다.',
      leaveConfirm: '나가기',
      requestTitle: '채팅 요청',
      requestFrom: '{from}님이 채팅을 요청했습니다. 연락처에 없는 사람입니다.',
      requestExplain: '보낸 메시지는 읽을 수 있지만, 수락하기 전에는 답장할 수 없습니다. 거절하면 채팅이 사라지고, 차단하면 이 사람이 더 이상 아무것도 보낼 수 없습니다.',
      requestAccept: '수락',
      requestDecline: '거절',
      requestBlock: '거절하고 차단',
      requestDeclined: '채팅 요청을 거절했습니다.',
      requestBlocked: '채팅 요청을 거절하고 보낸 사람을 차단했습니다.',
      messageMenu: '메시지 메뉴',
      reportMenu: '신고…',
      reportTitle: '이 메시지 신고',
      reportQuoteFrom: '{sender}님의 메시지:',
      reportExplain: '신고하면 이 메시지가 실제로 보내졌다는 증명과 함께 서비스의 모더레이터에게 공개됩니다. 아래에서 이전 메시지를 포함하지 않는 한 채팅의 다른 내용은 공유되지 않습니다.',
      reportReasonLabel: '사유',
      reason_spam: '스팸 또는 사기',
      reason_harassment: '괴롭힘',
      reason_illegal: '불법 콘텐츠',
      reason_other: '기타',
      reportNoteLabel: '모더레이터에게 남길 메모 (선택)',
      reportPrecedingLabel: '이전 메시지도 포함 (0~20개)',
      reportPrecedingHint: '바로 앞의 메시지가 있으면 모더레이터가 상황을 이해하기 쉽습니다. 그 메시지들도 모더레이터에게 보입니다.',
      reportSubmit: '신고하기',
      reportFailed: '신고를 보내지 못했습니다: {msg}',
      reportDoneTitle: '신고했습니다',
      reportDoneTextOne: '감사합니다. 모더레이터가 이 메시지를 검토합니다. 진행 상황은 개인정보 → 내가 한 신고에서 확인할 수 있습니다.',
      reportDoneText: '감사합니다. 모더레이터가 이 메시지와 이전 메시지 {n}개를 검토합니다. 진행 상황은 개인정보 → 내가 한 신고에서 확인할 수 있습니다.',
      reportRef: '접수 번호: {id}',
      privacyTitle: '개인정보',
      requestsTitle: '내 데이터 열람 요청',
      requestsExplain: '고객 지원 담당자는 내가 동의한 요청에 한해서만 내 데이터를 볼 수 있습니다. 모든 접근은 아래 접근 기록에 남습니다.',
      requestsNone: '내 데이터 열람 요청이 없습니다.',
      requestWho: '{org}의 담당자 {staff}님이 내 데이터 열람을 요청했습니다',
      requestFields: '열람할 항목',
      requestPurpose: '목적',
      requestAskedAt: '요청 일시',
      requestAgree: '동의',
      requestDeclineGrant: '거절',
      requestAgreedState: '이 요청에 동의했습니다.',
      requestDeclinedState: '이 요청을 거절했습니다.',
      noticesTitle: '알림',
      noticesNone: '내 메시지에 대한 모더레이터의 결정이 없습니다.',
      noticeDecision: '모더레이터의 결정: {decision}',
      noticeWhen: '일시',
      noticeReason: '신고 사유',
      noticeMessage: '대상',
      noticeMessageIn: '{chat}에서 보낸 내 메시지 #{seq}',
      noticeUntil: '기한',
      accessTitle: '내 데이터에 접근한 사람',
      accessExplain: '서비스의 누군가가 내 데이터를 읽거나 옮길 때마다 공개된 추가 전용 원장에 기록됩니다. 이 기기가 각 기록을 원장과 직접 대조합니다.',
      accessChecking: '접근 기록을 원장과 대조하는 중…',
      accessCheckAgain: '다시 확인',
      accessVerifiedShort: '이 기기에서 검증됨 (원장 크기 {n})',
      accessVerifiedFirst: '아래의 모든 기록은 이 기기에서 크기 {n}인 원장의 트리 헤드와 대조했습니다. 이 기기가 원장의 트리 헤드를 확인한 것은 이번이 처음입니다.',
      accessVerifiedExt: '아래의 모든 기록은 이 기기에서 크기 {n}인 원장의 트리 헤드와 대조했습니다 (이 기기가 전에 확인한 크기 {prev}의 헤드를 이어받습니다).',
      accessHeadInfo: '원장 {origin}, 트리 헤드 서명 일시 {time}',
      accessNone: '내 데이터에 접근한 사람이 없습니다.',
      accessAllowed: '허용됨',
      accessRefused: '거부됨',
      accessWhat: '내용',
      accessWho: '접근한 사람',
      accessByStaff: '{org}의 담당자 {staff}',
      accessPurpose: '목적',
      accessTicket: '티켓',
      accessRoles: '권한',
      accessRequester: '요청자',
      accessFrom: '접근 국가',
      accessRegion: '리전',
      accessBasis: '법적 근거',
      accessRefusal: '거부 사유',
      accessProof: '원장에서 검증됨 (기록 #{index})',
      accessNotYet: '아직 원장에 없음',
      unprovenTitle: '기록됨, 원장 반영 대기 중',
      unprovenExplain: '이 접근들은 기록되었지만 아직 원장에 포함되지 않아 대조할 수 없었습니다. 나중에 다시 확인하세요.',
      accessTampered: '접근 기록을 신뢰할 수 없습니다. 이 기기에서 원장 검증에 실패했습니다.',
      dataMapTitle: '내 데이터가 있는 곳',
      dmHome: '내 홈 리전',
      dmNode: '이 기기가 사용하는 노드',
      dmKeptAbroad: '홈 리전 밖에 보관된 것',
      dmKeptAbroadNone: '없음',
      dmKeptAbroadWhat: '그곳에 보관하는 것',
      dmRegion: '{name} (리전 {code}), {country}',
      dmRegionShort: '{country}, 리전 {code}',
      dmCategories: '보관 중인 내 정보',
      dmCategoriesExplain: '항목을 열면 보관 위치, 보호 방법, 어느 나라에서 접근할 수 있는지 볼 수 있습니다.',
      dmStoredIn: '보관 위치: {where}',
      dmAlsoFrom: '{list}에서 접근할 수 있음',
      dmFields: '포함된 정보',
      dmStored: '보관 위치',
      dmProtection: '보호',
      dmReach: '접근할 수 있는 국가',
      dmSeeDisclosure: '(아래 고지 참고)',
      dmDisclosures: '홈 리전 밖의 국가',
      dmDisclosuresExplain: '각 나라의 법이 보장하는 보호와 그 나라의 수령자가 지켜야 할 조치입니다.',
      dmTransfers: '내 데이터의 이전',
      dmTransfersNone: '내 데이터는 어디로도 이전되지 않았습니다.',
      dmReports: '나에 관한 신고',
      dmConsent: '내 동의',
      dmConsentStanding: '상태: {standing}',
      dmDisclosureVersion: '고지 버전 {v}',
      dmConsentHistory: '기록',
      dmOther: '기타 정보',
      myReportsTitle: '내가 한 신고',
      myReportsNone: '신고한 내역이 없습니다.',
      reportFiledAt: '신고 일시',
      reportState: '상태',
      reportDecision: '결정',
      reportNoDecision: '아직 결정되지 않음',
      reportRefLabel: '접수 번호',
      exportTitle: '내 데이터 다운로드',
      exportExplain: '서비스가 보관 중인 내 정보를 모두 담은 JSON 파일입니다.',
      exportLink: '내 데이터 다운로드',
      eraseTitle: '계정 삭제',
      eraseExplain: '계정과 서비스가 보관 중인 내 정보(‘내 데이터가 있는 곳’에 나와 있습니다)를 모두 삭제하고, 이 기기에서도 지웁니다. 이미 보낸 메시지는 받은 사람에게 남아 있습니다.',
      eraseWarning: '이 작업은 되돌릴 수 없습니다.',
      eraseLabel: '확인을 위해 내 핸들({handle})을 입력하세요',
      eraseSubmit: '계정 삭제',
      eraseFailed: '계정을 삭제하지 못했습니다: {msg}',
      eraseNotConfirmed: '앱이 삭제를 확인하지 않았습니다',
      erasedTitle: '계정이 삭제되었습니다',
      erasedText: '서비스에서 계정이 삭제되었습니다. 데이터 키는 파기되었고 계정, 기기, 대기 중인 메시지는 삭제되었습니다. 이 기기에 있는 기록은 해당 폴더를 삭제할 때까지 남아 있습니다.',
      settingsTitle: '설정',
      devicesTitle: '내 기기',
      devicesNone: '기기가 없습니다.',
      deviceUnnamed: '이름 없는 기기',
      thisDevice: '이 기기',
      deviceLinked: '{at}에 연결됨',
      deviceLastSeen: '마지막 접속 {at}',
      deviceNeverSeen: '아직 접속하지 않음',
      revoke: '삭제',
      revokeNamed: '{name} 삭제',
      revokeQuestion: '{name}을(를) 삭제할까요? 이 기기는 즉시 메시지를 받지 못하게 됩니다.',
      revoked: '{name}을(를) 삭제했습니다.',
      approveTitle: '기기 추가',
      approveExplain: '새 기기에서 `kizuna device link`를 실행하면 코드가 표시됩니다. 그 코드를 여기에 입력하세요.',
      approveLabel: '새 기기에 표시된 코드',
      approveSubmit: '승인',
      approveNeedCode: '새 기기에 표시된 코드를 입력하세요.',
      approveDone: '기기 {id}이(가) 계정에 연결되었습니다.',
      approveFailed: '기기를 승인하지 못했습니다: {msg}',
      blockedTitle: '차단한 사람',
      blockedExplain: '차단한 사람은 나에게 메시지를 보내거나 나를 채팅에 추가할 수 없습니다.',
      blockedNone: '차단한 사람이 없습니다.',
      blockedSince: '{at}부터',
      blockLabel: '차단하기 (핸들)',
      blockSubmit: '차단',
      blockedDone: '{handle}님을 차단했습니다.',
      unblock: '차단 해제',
      unblockNamed: '{handle}님 차단 해제',
      unblocked: '{handle}님의 차단을 해제했습니다.',
      contactsTitle: '연락처',
      contactsExplain: '연락처에 있는 사람은 나를 바로 채팅에 추가할 수 있습니다. 그 밖의 사람에게서는 수락하거나 거절할 수 있는 채팅 요청이 옵니다.',
      contactsNone: '아직 연락처가 없습니다.',
      contactLabel: '연락처 추가 (핸들)',
      contactAdd: '추가',
      contactRemove: '삭제',
      contactRemoveNamed: '{handle}님을 연락처에서 삭제',
      tamperTitle: '경고: 이 기기에서 투명성 원장 검증에 실패했습니다.',
      tamperAdvice: '내 데이터에 대한 접근 기록이 변조되었을 수 있습니다. 접근 기록을 믿지 마세요. 이 메시지를 보관하고 운영자나 개인정보 보호 감독 기관에 알리세요.',
      memberKeysTitle: '경고: 키 로그에 없는 기기가 채팅에 있습니다.',
      memberKeysAdvice: '어떤 채팅에 본인의 기기라고 하지만 공개 키 로그에는 본인의 것으로 기록되지 않은 기기가 있습니다. 누군가 엿듣고 있을 수 있으며, 그 채팅에서 보내는 내용은 그 기기에도 전달됩니다. 본인과 직접 만나 안전 번호를 비교하기 전까지 그 기기가 보내는 내용을 믿지 말고 그 채팅에는 아무것도 보내지 마세요. 이 메시지를 보관해 운영자에게 알리세요.',
      keysTamperTitle: '경고: 키 로그에 없는 키입니다.',
      keysTamperAdvice: '서버가 공개 키 로그에 본인의 것으로 기록되지 않은 키를 이 기기에 건넸거나, 내 기기가 승인하지 않은 기기를 내 계정에 추가했습니다. 누군가 엿듣고 있을 수 있습니다. 그 키로는 아무것도 보내지 않았습니다. 내 것이 아닌 기기가 있으면 설정에서 해제하고, 이 메시지를 보관해 운영자에게 알리세요.',
      cat_profile: '프로필',
      cat_contacts: '연락처',
      cat_blocks: '차단한 사람',
      cat_block_hashes: '차단 확인용 데이터',
      cat_phone_index: '전화번호 검색용 데이터',
      cat_access_records: '접근 기록',
      cat_reports: '신고',
      cat_moderation: '모더레이션',
      cat_consent: '동의',
      cat_account: '계정',
      cat_messages_in_transit: '전달 중인 메시지',
      cat_follows: '내가 팔로우하는 공식 계정',
      cat_files_sent: '내가 보낸 파일',
      cat_files_received: '내가 받은 파일',
      cat_name: '이름',
      cat_phone: '전화번호',
      cat_email: '이메일 주소',
      cat_handles: '연락처 핸들',
      act_read: '열람',
      act_write: '변경',
      act_export: '내보내기',
      act_transfer: '이전',
      act_erase: '삭제',
      act_delete: '삭제',
      state_open: '접수됨',
      state_resolved: '처리됨',
      state_dismissed: '기각됨',
      consent_agreed: '동의함',
      consent_withdrawn: '동의를 철회함',
      consent_none: '아직 묻지 않음',
      consent_needed: '동의 필요',
      consent_not_needed: '동의할 것 없음',
      dmFields_profile: '이름, 전화번호, 이메일 주소',
      dmFields_contacts: '연락처 핸들',
      dmFields_blocks: '내가 차단한 사람과 언제부터 차단했는지',
      dmFields_block_hashes: '나와 내가 차단한 사람의 쌍마다 만든 키 기반 해시',
      dmFields_phone_index: '내 전화번호의 키 기반 해시',
      dmFields_access_records: '내 데이터의 이전 기록',
      dmFields_reports: '내가 한 신고: 공개한 메시지, 사유, 메모, 결과',
      dmFields_moderation: '신고된 내 메시지에 대한 결정과 내 이의 제기',
      dmFields_consent: '내 데이터에 접근할 수 있는 외국에 대한 동의와 그 철회',
      dmFields_account: '핸들, 기기 ID, 기기 공개 키, MLS 키 패키지',
      dmFields_messages_in_transit: '내 기기로 전달되기를 기다리는 MLS 암호문',
      dmFields_follows: '내가 팔로우하는 공식 계정과 각각을 팔로우하는 채팅',
      dmFields_files_sent: '내가 보낸 사진과 파일(봉인됨), 파일 크기와 어느 채팅으로 보냈는지',
      dmFields_files_received: '다른 사람이 나에게 보낸 사진과 파일(봉인됨, 보낸 사람의 홈 리전에 보관)',
      dmSealed: '나만의 데이터 키로 암호화되어 있습니다. 데이터 키는 리전 {region}의 키로 암호화(래핑)되어 있으며, 그 키는 어떤 데이터베이스와도 분리된 곳에 보관됩니다.',
      dmProt_block_hashes: '노드의 비밀 키를 사용한 키 기반 해시(HMAC-SHA-256)입니다. 이를 통해 노드는 내가 차단한 사람이 보내는 것을 거부할 수 있습니다. 핸들이나 계정은 함께 저장되지 않습니다.',
      dmProt_phone_index: '리전의 비밀 키를 사용한 키 기반 해시(HMAC-SHA-256)입니다. 전화번호 자체는 저장되지 않습니다.',
      dmProt_account: '저장 시 암호화되지 않습니다. 메시지를 전달하는 데 필요하기 때문입니다. 이름, 전화번호, 이메일 주소는 들어 있지 않습니다.',
      dmProt_messages_in_transit: '종단 간 암호화되어 있습니다. 서비스에는 이를 열 수 있는 키가 없습니다. 받는 사람의 모든 기기에 전달되면 삭제됩니다.',
      dmProt_follows: '저장 시 암호화되지 않습니다. 어떤 계정을 팔로우하는지는 채팅과 마찬가지로 전달을 위한 정보입니다. 내가 보내는 내용은 그 기관의 기기로 종단 간 암호화됩니다.',
      dmFilesSealed: '보내는 기기에서 그 파일만의 키로 봉인됩니다. 그 키는 종단 간 암호화된 메시지에 담겨 이 채팅에 참여한 기기에만 전달됩니다. 서비스에는 이를 열 수 있는 키가 없습니다. 보낸 지 {days}일 후에 삭제됩니다.',
      dmPurpose_block_hashes: '내가 차단한 사람이 보내는 것을 거부하기 위해',
      dmPurpose_account: '내 기기로 메시지를 전달하기 위해',
      dmPurpose_messages_in_transit: '내 기기가 가져갈 때까지 맡아 두기 위해',
      dmPurpose_follows: '팔로우하는 계정의 공지를 전하기 위해',
      dmWhyAtNode: '{purpose} 나를 담당하는 노드가 보관합니다. 이 노드는 내 홈 리전이 아닌 {node}에서 운영됩니다.',
      dmWhyKeptAbroad: '나를 담당하는 노드는 내 홈 리전({home}) 밖인 {node}에서 운영됩니다. 메시지를 전달하기 위해 이 노드는 내 계정(핸들, 기기 키), 차단을 적용하는 데 쓰는 키 기반 해시, 내 기기로 전달되기를 기다리는 암호문을 {nodeName}에 보관합니다. 내 개인 데이터는 리전 {homeRegion}에 봉인된 채로 있으며, 노드는 나에게 응답할 때에만 {nodeCountry}에서 접근하고 그때마다 아래에 기록됩니다.',
      dmConsequence_not_needed: '{country} 밖의 어떤 나라도 리전 {region}에 있는 내 데이터에 접근할 수 없습니다. 동의할 것이 없습니다.',
      dmConsequence_agreed: '리전 {region}의 고지(버전 {version})에 동의했습니다. 내 데이터는 고지된 대로 {countries}에서 접근될 수 있으며, 그때마다 기록됩니다. 동의는 `kizuna me consent withdraw`로 언제든지 철회할 수 있으며, 철회하면 어떻게 되는지는 거기에 안내되어 있습니다.',
      dmConsequence_withdrawn: '동의를 철회했습니다. {withheld}',
      dmConsequence_withdrawnAt: '{at}에 동의를 철회했습니다. {withheld}',
      dmConsequence_needed: '내 홈 리전 {region}의 현재 고지(버전 {version})에 동의하지 않았습니다. 한 번도 동의하지 않았거나, 홈 리전이 바뀌었거나, 고지 내용이 바뀌었기 때문입니다. {withheld}',
      dmWithheldAbroad: '지금은 {home} 밖의 어떤 나라도 내 데이터에 접근할 수 없습니다. 이 노드는 {node}에서 운영되므로 내 데이터의 조회, 내보내기, 삭제와 동의 접수만 처리합니다. 메시지, 연락처, 검색 등 그 밖의 모든 기능이 중지되며, 어떤 직원도 어떤 허가로든 내 데이터를 읽을 수 없습니다. 메시지 전달을 위해 이 노드가 이미 {node}에 보관하고 있는 것(내 계정, 기기 키, 내 기기로 전달되기를 기다리는 암호문)은 계정을 삭제할 때까지 남습니다. 다시 서비스를 받으려면 `kizuna me consent agree`로 동의하세요. 그렇지 않으면 계정을 삭제하거나(`kizuna me delete --yes`) 운영자에게 {node}에 있는 리전으로 옮겨 달라고 요청하세요.',
      dmWithheldHome: '지금은 {home} 밖의 어떤 나라도 내 데이터에 접근할 수 없습니다. {countries}에 있는 직원은 어떤 허가로도 내 데이터를 읽을 수 없습니다. 이 노드는 {home}에서 운영되며 지금까지처럼 서비스를 제공합니다. 다시 동의하려면 `kizuna me consent agree`를 사용하세요.',
      dmIfWithdrawn: '동의를 철회하면: {withheld}',
      key_protection_system: '그 나라의 보호 제도',
      key_recipient_measures: '수령자가 지켜야 할 조치',
      key_transfer_basis: '이전의 법적 근거',
      key_country_name: '국가',
      key_country: '국가',
      key_at: '일시',
      key_step: '내용',
      key_region: '리전',
      key_version: '버전',
      key_countries: '국가',
      key_device_id: '기기',
      key_expires_at: '만료',
    },
  };
  const LANGS = [['en', 'English'], ['ja', '日本語'], ['ko', '한국어']];
  const LANG_KEY = 'kizuna.lang';

  function detectLang() {
    try {
      const saved = localStorage.getItem(LANG_KEY);
      if (saved && STRINGS[saved]) return saved;
    } catch (_) { /* storage may be unavailable */ }
    const prefs = (navigator.languages && navigator.languages.length)
      ? navigator.languages : [navigator.language || 'en'];
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

  function makeFormatters() {
    const f = (o) => new Intl.DateTimeFormat(lang, o);
    fmt = {
      time: f({ hour: 'numeric', minute: '2-digit' }),
      monthDay: f({ month: 'short', day: 'numeric' }),
      fullDate: f({ year: 'numeric', month: 'short', day: 'numeric' }),
      day: f({ weekday: 'short', month: 'long', day: 'numeric' }),
      dayYear: f({ weekday: 'short', year: 'numeric', month: 'long', day: 'numeric' }),
      iso: (ms) => new Date(ms).toISOString(),
      dateTime: f({ year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', second: '2-digit' }),
      regions: null,
    };
    try { fmt.regions = new Intl.DisplayNames([lang], { type: 'region' }); } catch (_) { /* older browsers: codes only */ }
  }

  // Local calendar day number, for "today" / "yesterday" / separators.
  function dayNumber(ms) {
    const d = new Date(ms);
    return Math.floor(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) / 86400000);
  }
  function todayNumber() { return dayNumber(Date.now()); }

  function listTime(ms) {
    const d = dayNumber(ms), today = todayNumber();
    if (d === today) return fmt.time.format(ms);
    if (d === today - 1) return t('yesterday');
    if (new Date(ms).getFullYear() === new Date().getFullYear()) return fmt.monthDay.format(ms);
    return fmt.fullDate.format(ms);
  }
  function dayLabel(ms) {
    const d = dayNumber(ms), today = todayNumber();
    if (d === today) return t('today');
    if (d === today - 1) return t('yesterday');
    if (new Date(ms).getFullYear() === new Date().getFullYear()) return fmt.day.format(ms);
    return fmt.dayYear.format(ms);
  }

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
  // Attributes translated on language change: "attr:key;attr:key".
  function i18nAttrs(el, spec) {
    el.dataset.i18nAttr = spec;
    applyAttrs(el);
    return el;
  }
  function applyAttrs(el) {
    for (const part of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = part.split(':');
      el.setAttribute(attr, t(key));
    }
  }
  // Text with `code` spans, built from nodes.
  function withCode(s) {
    const frag = document.createDocumentFragment();
    s.split('`').forEach((part, i) => {
      if (part) frag.append(i % 2 ? h('code', { text: part }) : document.createTextNode(part));
    });
    return frag;
  }
  function truncate(s, n) {
    s = String(s || '').replace(/\s+/g, ' ').trim();
    return s.length > n ? s.slice(0, n - 1) + '…' : s;
  }
  function isNarrow() { return window.matchMedia('(max-width: 420px)').matches; }
  function windowActive() { return document.visibilityState === 'visible' && document.hasFocus(); }

  // ---------------------------------------------------------------------
  // API
  // ---------------------------------------------------------------------
  class ApiError extends Error {
    constructor(code, message, status) { super(message); this.code = code; this.status = status; }
  }
  let sessionOver = false;

  async function api(method, path, body) {
    if (sessionOver) throw new ApiError('no_session', t('sessionEnded'), 401);
    const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
    if (body instanceof Blob) {
      // A file goes as its bytes, not as JSON.
      init.headers['Content-Type'] = 'application/octet-stream';
      init.body = body;
    } else if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (_) {
      throw new ApiError('network', t('networkError'), 0);
    }
    if (res.status === 401) {
      endSession();
      throw new ApiError('no_session', t('sessionEnded'), 401);
    }
    let data = null;
    const text = await res.text().catch(() => '');
    if (text) { try { data = JSON.parse(text); } catch (_) { data = null; } }
    if (!res.ok) {
      const msg = (data && typeof data.message === 'string' && data.message) || `HTTP ${res.status}`;
      // Whatever asked, a ledger that fails verification is shown to the person at once.
      if (data && data.code === 'ledger_tampered') showTamper(msg, 'tamper');
      // So are keys the key log does not vouch for, whichever request met them.
      if (data && data.code === 'keys_not_logged') showTamper(msg, 'keysTamper');
      throw new ApiError((data && data.code) || `http_${res.status}`, msg, res.status);
    }
    return data;
  }
  const chatPath = (chat, rest) => `/api/chats/${encodeURIComponent(chat)}${rest || ''}`;

  // ---------------------------------------------------------------------
  // State
  // ---------------------------------------------------------------------
  let me = null;            // {handle, ...}
  let chats = [];           // as GET /api/chats gives them
  let chatsLoaded = false;
  let conv = null;          // the open conversation, see openChat
  let pendingId = 0;
  let nodeConnected = true; // from `status` events
  let localDown = false;    // the EventSource to this page's own server is down
  let es = null;
  let erased = false;       // the account was erased from this page
  let tamperMessage = '';   // set once the ledger failed verification
  let tamperKind = 'tamper'; // or 'keysTamper' / 'memberKeys': keys the key log does not hold

  // ---------------------------------------------------------------------
  // Layout
  // ---------------------------------------------------------------------
  const root = document.getElementById('app') || document.body.appendChild(h('div', { id: 'app', class: 'app' }));

  const langSelect = h('select', { id: 'lang-select', 'data-test': 'lang-select' },
    ...LANGS.map(([code, label]) => h('option', { value: code, lang: code, text: label })));
  const statusBanner = h('div', { class: 'status-banner', 'data-test': 'status-banner', role: 'status', hidden: true, i18n: 'connecting' });
  const meLabel = h('span', { class: 'me', 'data-test': 'me' });

  // Top-level sections. Each is a button; the current one says so.
  const navButtons = {};
  for (const [view, key] of [['chats', 'navChats'], ['privacy', 'navPrivacy'], ['settings', 'navSettings']]) {
    navButtons[view] = h('button', { type: 'button', class: 'nav-btn', 'data-test': 'nav-' + view, 'data-view': view, i18n: key });
  }
  const mainNav = h('nav', { class: 'main-nav' }, navButtons.chats, navButtons.privacy, navButtons.settings);
  i18nAttrs(mainNav, 'aria-label:sections');
  const header = h('header', { class: 'topbar' },
    h('h1', { class: 'brand', i18n: 'appName' }),
    meLabel,
    mainNav,
    statusBanner,
    h('div', { class: 'spacer' }),
    h('label', { class: 'vh', for: 'lang-select', i18n: 'language' }),
    langSelect);

  // Sidebar: chat list and new-chat form.
  const newChatBtn = h('button', { type: 'button', class: 'btn', 'data-test': 'new-chat', 'aria-expanded': 'false', 'aria-controls': 'new-chat-form', i18n: 'newChat' });
  const ncHandles = h('input', { id: 'nc-handles', type: 'text', 'data-test': 'new-chat-handles', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', required: true });
  i18nAttrs(ncHandles, 'placeholder:handlesPlaceholder');
  const ncName = h('input', { id: 'nc-name', type: 'text', 'data-test': 'new-chat-name', autocomplete: 'off', maxlength: '100' });
  const ncError = h('div', { class: 'error', 'data-test': 'error', role: 'alert' });
  const ncSubmit = h('button', { type: 'submit', class: 'btn', 'data-test': 'new-chat-submit', i18n: 'create' });
  const ncCancel = h('button', { type: 'button', class: 'btn secondary', i18n: 'cancel' });
  const newChatForm = h('form', { id: 'new-chat-form', class: 'new-chat', hidden: true, 'aria-labelledby': 'nc-title', novalidate: true },
    h('h3', { id: 'nc-title', class: 'vh', i18n: 'newChatTitle' }),
    h('label', { for: 'nc-handles', i18n: 'handlesLabel' }), ncHandles,
    h('label', { for: 'nc-name', i18n: 'nameLabel' }), ncName,
    ncError,
    h('div', { class: 'actions' }, ncCancel, ncSubmit));
  // Following an official account: its badge is checked on the device first.
  const officialBtn = h('button', { type: 'button', class: 'btn secondary', 'data-test': 'official-open', 'aria-expanded': 'false', 'aria-controls': 'official-form', i18n: 'officialOpen' });
  const ofHandle = h('input', { id: 'of-handle', type: 'text', 'data-test': 'official-handle', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', required: true });
  const ofLookup = h('button', { type: 'submit', class: 'btn', 'data-test': 'official-lookup', i18n: 'officialLookup' });
  const ofResult = h('div', { class: 'official-result', 'data-test': 'official-result', 'aria-live': 'polite' });
  const ofError = h('div', { class: 'error', 'data-test': 'error', role: 'alert' });
  const officialForm = h('form', { id: 'official-form', class: 'new-chat', hidden: true, 'aria-labelledby': 'of-title', novalidate: true },
    h('h3', { id: 'of-title', class: 'small-title', i18n: 'officialTitle' }),
    h('label', { for: 'of-handle', i18n: 'officialHandleLabel' }), ofHandle,
    h('div', { class: 'actions' }, ofLookup),
    ofResult, ofError);
  const chatList = h('ul', { class: 'chat-list', 'data-test': 'chat-list', 'aria-labelledby': 'chats-heading' });
  const noChats = h('p', { class: 'empty', hidden: true, i18n: 'noChats' });
  const sidebar = h('nav', { class: 'sidebar', 'aria-labelledby': 'chats-heading' },
    h('div', { class: 'sidebar-head' }, h('h2', { id: 'chats-heading', i18n: 'chats' }), h('div', { class: 'actions' }, officialBtn, newChatBtn)),
    newChatForm, officialForm, chatList, noChats);

  // Conversation pane.
  const backBtn = h('button', { type: 'button', class: 'back btn secondary', 'data-test': 'back' },
    h('span', { 'aria-hidden': 'true', text: '‹' }), h('span', { class: 'vh', i18n: 'back' }));
  i18nAttrs(backBtn, 'title:back');
  const convTitle = h('h2', { id: 'conv-title', class: 'conv-title', tabindex: '-1' });
  const convMembers = h('p', { class: 'conv-members' });
  const canvas = h('div', { class: 'canvas', role: 'list' });
  const scroller = h('div', { class: 'scroller', tabindex: '0', role: 'region' }, canvas);
  i18nAttrs(scroller, 'aria-label:messages');
  const convStatus = h('p', { class: 'conv-status' });
  const composer = h('textarea', { id: 'composer', 'data-test': 'composer', rows: '1' });
  i18nAttrs(composer, 'placeholder:composerPlaceholder');
  const sendBtn = h('button', { type: 'submit', class: 'btn send', i18n: 'send' });
  const fileInput = h('input', { type: 'file', multiple: true, class: 'vh', tabindex: '-1', 'data-test': 'attach-input', 'aria-hidden': 'true' });
  const attachBtn = h('button', { type: 'button', class: 'btn attach', 'data-test': 'attach' },
    h('span', { 'aria-hidden': 'true', text: '📎' }));
  i18nAttrs(attachBtn, 'aria-label:attach;title:attach');
  attachBtn.addEventListener('click', () => fileInput.click());
  const composerForm = h('form', { class: 'composer' },
    h('label', { for: 'composer', class: 'vh', i18n: 'composerLabel' }), attachBtn, fileInput, composer, sendBtn);
  const convError = h('div', { class: 'error', 'data-test': 'error', role: 'alert' });
  const inactiveNote = h('p', { class: 'inactive', 'data-test': 'inactive', hidden: true, i18n: 'inactive' });

  // Members of the open chat: a disclosure under the conversation's header.
  const membersList = h('ul', { class: 'members-list', 'data-test': 'members-list' });
  const membersStatus = h('p', { class: 'muted small members-status', role: 'status' });
  const addMemberInput = h('input', { id: 'add-member', type: 'text', 'data-test': 'add-member-handle', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
  i18nAttrs(addMemberInput, 'placeholder:handlePlaceholder');
  const addMemberBtn = h('button', { type: 'submit', class: 'btn', 'data-test': 'add-member-submit', i18n: 'addMember' });
  const addMemberForm = h('form', { class: 'inline-form', novalidate: true },
    h('label', { for: 'add-member', i18n: 'addMemberLabel' }),
    h('div', { class: 'row-fields' }, addMemberInput, addMemberBtn));
  const membersError = h('div', { class: 'error', role: 'alert' });
  const leaveBtn = h('button', { type: 'button', class: 'btn danger-outline', 'data-test': 'leave-chat', i18n: 'leaveChat' });
  const leaveBox = h('div', { class: 'leave-box' }, leaveBtn);
  // A member's safety number, opened from their row.
  const safetyBox = h('section', { class: 'safety-box', 'data-test': 'safety-box', hidden: true, 'aria-live': 'polite' });
  const membersSummary = h('summary', { class: 'members-summary' }, h('span', { i18n: 'membersTitle' }));
  const membersPanel = h('details', { class: 'members-panel', 'data-test': 'members-panel' },
    membersSummary,
    h('div', { class: 'members-body' }, membersList, membersStatus, safetyBox, addMemberForm, membersError, leaveBox));

  // A chat request: someone not in my contacts put me in this chat.
  const requestText = h('p', { class: 'request-text' });
  const requestAccept = h('button', { type: 'button', class: 'btn', 'data-test': 'request-accept', i18n: 'requestAccept' });
  const requestDecline = h('button', { type: 'button', class: 'btn secondary', 'data-test': 'request-decline', i18n: 'requestDecline' });
  const requestBlock = h('button', { type: 'button', class: 'btn danger-outline', 'data-test': 'request-block', i18n: 'requestBlock' });
  const requestError = h('div', { class: 'error', role: 'alert' });
  const requestBanner = h('div', { class: 'request-banner', 'data-test': 'request-banner', role: 'region', hidden: true },
    requestText, h('p', { class: 'muted small', i18n: 'requestExplain' }),
    h('div', { class: 'actions' }, requestAccept, requestDecline, requestBlock), requestError);
  i18nAttrs(requestBanner, 'aria-label:requestTitle');

  // The official account this chat follows: its badge as this device checked it.
  const officialBox = h('div', { class: 'official-box', 'data-test': 'official-box', hidden: true });
  const convMain = h('div', { class: 'conv-main', hidden: true },
    h('header', { class: 'conv-head' }, backBtn, h('div', { class: 'conv-head-text' }, convTitle, convMembers, officialBox)),
    membersPanel,
    scroller, convStatus, inactiveNote, requestBanner, convError, composerForm);
  const convEmpty = h('p', { class: 'conv-empty', i18n: 'chooseChat' });
  const convSection = h('main', { class: 'conv', 'data-test': 'conversation', 'aria-labelledby': 'conv-title' }, convEmpty, convMain);
  // Shown over the conversation while files are dragged onto it.
  i18nAttrs(convSection, 'data-hint:attachHint');

  const layout = h('div', { class: 'layout show-list', 'data-view': 'chats' }, sidebar, convSection);
  const privacyView = h('main', { class: 'page', 'data-view': 'privacy', 'data-test': 'privacy', hidden: true, 'aria-labelledby': 'privacy-heading' });
  const settingsView = h('main', { class: 'page', 'data-view': 'settings', 'data-test': 'settings', hidden: true, 'aria-labelledby': 'settings-heading' });
  const tamperBanner = h('div', { class: 'tamper-banner', 'data-test': 'tamper-banner', role: 'alert', hidden: true });
  // The newest announcement of an account this person follows, until dismissed.
  const announcementBanner = h('div', { class: 'announcement-banner', 'data-test': 'announcement-banner', role: 'status', hidden: true });
  // People I verified whose keys changed since.
  const keysBanner = h('div', { class: 'keys-banner', 'data-test': 'keys-banner', role: 'alert', hidden: true });
  const live = h('div', { class: 'vh', 'aria-live': 'polite', 'aria-atomic': 'true', 'data-test': 'live' });
  const sessionNotice = h('div', { class: 'session-ended', hidden: true, role: 'alert', 'data-test': 'session-ended' });

  root.append(tamperBanner, announcementBanner, keysBanner, header, layout, privacyView, settingsView, live, sessionNotice);

  // ---------------------------------------------------------------------
  // Language
  // ---------------------------------------------------------------------
  function applyLang() {
    document.documentElement.lang = lang;
    langSelect.value = lang;
    makeFormatters();
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll('[data-i18n-attr]')) applyAttrs(el);
    if (sessionOver) renderSessionNotice();
    renderTamper();
    updateTitle();
  }
  langSelect.addEventListener('change', () => {
    if (!STRINGS[langSelect.value]) return;
    lang = langSelect.value;
    try { localStorage.setItem(LANG_KEY, lang); } catch (_) { /* ignore */ }
    applyLang();
    renderChatList();
    if (conv) { renderConvHeader(); vlist.reset(); renderMembers(); }
    renderPages();
    settingsLang.value = lang;
  });

  // ---------------------------------------------------------------------
  // Session end (401)
  // ---------------------------------------------------------------------
  function renderSessionNotice() {
    if (erased) {
      sessionNotice.replaceChildren(h('div', { class: 'card', 'data-test': 'erased' },
        h('h1', { text: t('erasedTitle') }),
        h('p', { text: t('erasedText') })));
      return;
    }
    sessionNotice.replaceChildren(h('div', { class: 'card' },
      h('h1', { text: t('sessionTitle') }),
      h('p', {}, withCode(t('sessionEnded')))));
  }
  function endSession() {
    if (sessionOver) return;
    sessionOver = true;
    if (es) { es.close(); es = null; }
    header.hidden = true;
    layout.hidden = true;
    privacyView.hidden = true;
    settingsView.hidden = true;
    closeDialogs();
    renderSessionNotice();
    sessionNotice.hidden = false;
  }

  // ---------------------------------------------------------------------
  // Status banner
  // ---------------------------------------------------------------------
  function updateBanner() { statusBanner.hidden = nodeConnected && !localDown; }

  // ---------------------------------------------------------------------
  // Chat list
  // ---------------------------------------------------------------------
  function chatTitle(c) {
    if (c.name) return c.name;
    const m = Array.isArray(c.members) ? c.members : [];
    return m.length ? m.join(', ') : t('onlyYou');
  }
  function avatarColor(id) {
    let x = 0;
    for (const ch of String(id)) x = (x * 31 + ch.charCodeAt(0)) >>> 0;
    return `hsl(${x % 360} 38% 48%)`;
  }
  function shownUnread(c) {
    // While this page is marking the open chat read, don't flash a badge.
    if (conv && conv.chat === c.chat && (conv.readInFlight || conv.loading) && windowActive()) return 0;
    return Number(c.unread) || 0;
  }

  // Chat list items are kept per chat (keyed), so a refresh arriving between
  // a press and its release doesn't swallow the click.
  const chatItems = new Map(); // chat id -> <li>

  function renderChatList() {
    const focusedChat = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.chat : undefined;
    const seen = new Set();
    let prev = null;
    for (const c of chats) {
      if (!c || typeof c.chat !== 'string' || seen.has(c.chat)) continue;
      seen.add(c.chat);
      const title = chatTitle(c);
      const unread = shownUnread(c);
      let lastText = '';
      if (c.last) {
        const text = c.last.text == null ? t('unopened') : c.last.text;
        const who = c.last.kind === 'event' ? ''
          : me && c.last.sender === me.handle ? t('you')
            : ((c.members || []).length > 1 ? (c.last.sender_name || c.last.sender) : '');
        lastText = (who ? who + ': ' : '') + truncate(text, 80);
      }
      let li = chatItems.get(c.chat);
      if (!li) {
        const btn = h('button', { type: 'button', class: 'chat-item', 'data-test': 'chat-item', 'data-chat': c.chat });
        const id = c.chat;
        btn.addEventListener('click', () => openChat(id, { user: true }));
        li = h('li', {}, btn);
        chatItems.set(c.chat, li);
      }
      const btn = li.firstChild;
      const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true', text: Array.from(title)[0] || '?' });
      avatar.style.background = avatarColor(c.chat);
      btn.replaceChildren(...[
        avatar,
        h('span', { class: 'chat-name' }, title,
          c.request ? h('span', { class: 'tag', 'data-test': 'request-tag', text: t('requestTag') }) : null,
          c.official && c.official.organisation ? h('span', { class: 'tag official-tag', 'data-test': 'official-tag', text: '✓ ' + t('officialTag') }) : null,
          c.active === false ? h('span', { class: 'tag muted-tag', text: t('leftTag') }) : null),
        h('span', { class: 'chat-time', text: c.last ? listTime(c.last.server_time) : '' }),
        h('span', { class: 'chat-last', 'data-test': 'chat-last', text: lastText }),
        unread > 0 ? h('span', { class: 'badge', 'data-test': 'unread-badge', 'aria-hidden': 'true', text: unread > 999 ? '999+' : String(unread) }) : null,
        unread > 0 ? h('span', { class: 'vh', text: ' ' + t('unreadCount', { n: unread }) }) : null,
      ].filter(Boolean));
      if (conv && conv.chat === c.chat) btn.setAttribute('aria-current', 'true');
      else btn.removeAttribute('aria-current');
      const next = prev ? prev.nextSibling : chatList.firstChild;
      if (next !== li) chatList.insertBefore(li, next);
      prev = li;
    }
    for (const [id, li] of chatItems) {
      if (!seen.has(id)) { li.remove(); chatItems.delete(id); }
    }
    noChats.hidden = !chatsLoaded || chats.length > 0;
    if (focusedChat !== undefined && document.activeElement === document.body) {
      const again = chatItems.get(focusedChat);
      if (again) again.firstChild.focus();
    }
    updateTitle();
  }

  function updateTitle() {
    const total = chats.reduce((n, c) => n + shownUnread(c), 0);
    document.title = (tamperMessage ? '⚠ ' : '') + (total > 0 ? `(${total}) ` : '') + t('appName');
  }

  let chatsInFlight = null;
  let chatsAgain = false;
  function refreshChats() {
    if (chatsInFlight) { chatsAgain = true; return chatsInFlight; }
    chatsInFlight = (async () => {
      try {
        do {
          chatsAgain = false;
          const list = await api('GET', '/api/chats');
          chats = Array.isArray(list) ? list : [];
          chatsLoaded = true;
          renderChatList();
          refreshKeyChanges();
          chatList.dataset.loaded = 'true';
          if (hooks.firstRenderMs === null) hooks.firstRenderMs = performance.now();
          if (conv) {
            renderConvHeader();
            const oc = currentChat();
            if (membersPanel.open && oc && oc.active !== false) loadMembers();
          }
        } while (chatsAgain);
      } catch (e) {
        if (e.status !== 401) console.warn('kizuna: chats', e.message);
      } finally {
        chatsInFlight = null;
      }
    })();
    return chatsInFlight;
  }

  // ---------------------------------------------------------------------
  // New chat form
  // ---------------------------------------------------------------------
  function openNewChat() {
    newChatForm.hidden = false;
    newChatBtn.setAttribute('aria-expanded', 'true');
    ncError.textContent = '';
    ncHandles.focus();
  }
  function closeNewChat(refocus) {
    newChatForm.hidden = true;
    newChatBtn.setAttribute('aria-expanded', 'false');
    ncError.textContent = '';
    if (refocus) newChatBtn.focus();
  }
  newChatBtn.addEventListener('click', () => (newChatForm.hidden ? openNewChat() : closeNewChat(true)));
  ncCancel.addEventListener('click', () => closeNewChat(true));
  newChatForm.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); closeNewChat(true); }
  });
  newChatForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const handles = ncHandles.value.split(/[\s,，、]+/).map((s) => s.replace(/^@/, '').trim()).filter(Boolean);
    const unique = [...new Set(handles)];
    if (!unique.length) { ncError.textContent = t('needHandle'); ncHandles.focus(); return; }
    const name = ncName.value.trim();
    ncSubmit.disabled = true;
    ncError.textContent = '';
    try {
      const r = await api('POST', '/api/chats', { with: unique, name: name || null });
      ncHandles.value = '';
      ncName.value = '';
      closeNewChat(false);
      await refreshChats();
      if (r && r.chat) openChat(r.chat, { user: true });
    } catch (err) {
      if (err.status !== 401) ncError.textContent = t('createFailed', { msg: err.message });
    } finally {
      ncSubmit.disabled = false;
    }
  });

  // ---------------------------------------------------------------------
  // Virtualised message list
  // ---------------------------------------------------------------------
  // Rows are absolutely positioned inside `canvas`, whose height is the sum
  // of every row's height: measured for rows that have been rendered at the
  // current width, estimated for the rest. Only the rows within the viewport
  // plus OVERSCAN either side are in the DOM.
  const OVERSCAN = 6;
  const PAD = 8;

  class VirtualList {
    constructor(scrollEl, canvasEl, opts) {
      this.scroller = scrollEl;
      this.canvas = canvasEl;
      this.opts = opts;
      this.items = [];
      this.keys = [];
      this.measured = new Map();   // key -> measured px
      this.estimated = new Map();  // key -> estimated px
      this.offsets = new Float64Array(1);
      this.total = 0;
      this.base = 0;               // bottom-aligns a short conversation
      this.rendered = new Map();   // key -> element
      this.stick = true;           // keep the bottom in view
      this.lastTop = 0;            // scrollTop when last seen or set
      this.busy = false;
      this.width = 0;
      this.height = 0;
      scrollEl.addEventListener('scroll', () => this.onScroll(), { passive: true });
      if (typeof ResizeObserver === 'function') {
        new ResizeObserver(() => this.onResize()).observe(scrollEl);
      } else {
        window.addEventListener('resize', () => this.onResize());
      }
    }

    setItems(items) {
      this.items = items;
      this.keys = items.map((_, i) => this.opts.keyOf(items, i));
      this.layout();
    }

    // Drop every row and measurement (language or width changed).
    reset() {
      for (const el of this.rendered.values()) el.remove();
      this.rendered.clear();
      this.measured.clear();
      this.estimated.clear();
      this.layout();
      this.render();
    }

    heightOf(i) {
      const k = this.keys[i];
      let v = this.measured.get(k);
      if (v !== undefined) return v;
      v = this.estimated.get(k);
      if (v === undefined) {
        v = this.opts.estimate(this.items, i, this.width);
        this.estimated.set(k, v);
      }
      return v;
    }

    layout() {
      const n = this.items.length;
      const off = new Float64Array(n + 1);
      let y = 0;
      for (let i = 0; i < n; i++) { off[i] = y; y += this.heightOf(i); }
      off[n] = y;
      this.offsets = off;
      this.total = y;
      const vh = this.scroller.clientHeight;
      const content = this.total + 2 * PAD;
      this.base = Math.max(0, vh - content);
      this.canvas.style.height = Math.max(content, vh) + 'px';
    }

    // Index of the row covering content position y (clamped).
    indexAt(y) {
      const off = this.offsets, n = this.items.length;
      if (n === 0) return 0;
      let lo = 0, hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (off[mid] <= y) lo = mid; else hi = mid - 1;
      }
      return lo;
    }

    maxScroll() { return Math.max(0, this.scroller.scrollHeight - this.scroller.clientHeight); }

    atBottom() {
      const s = this.scroller;
      return s.scrollTop + s.clientHeight >= s.scrollHeight - 24;
    }

    scrollToBottom() {
      this.stick = true;
      this.render();
    }

    onScroll() {
      if (this.busy) return;
      const st = this.scroller.scrollTop;
      // Only the reader moving up unsticks the bottom: a scroll event that
      // merely reports our own jump to the bottom, seen after the viewport
      // shrank (an error line, a taller composer), must not.
      if (st < this.lastTop - 1 || !this.stick) this.stick = this.atBottom();
      this.lastTop = st;
      this.render();
    }

    onResize() {
      const w = this.scroller.clientWidth, hgt = this.scroller.clientHeight;
      if (w !== this.width) {
        this.width = w;
        this.measured.clear();
        this.estimated.clear();
      }
      this.height = hgt;
      this.layout();
      this.render();
    }

    render() {
      if (this.busy) return;
      this.busy = true;
      try {
        const s = this.scroller;
        if (!this.width) this.width = s.clientWidth;
        const n = this.items.length;
        for (let pass = 0; pass < 4; pass++) {
          if (this.stick) s.scrollTop = this.maxScroll();
          const vh = s.clientHeight;
          const y0 = s.scrollTop - this.base - PAD;
          const y1 = y0 + vh;
          if (n === 0) {
            for (const el of this.rendered.values()) el.remove();
            this.rendered.clear();
            break;
          }
          const anchor = this.indexAt(Math.max(0, y0));
          const anchorKey = this.keys[anchor];
          const anchorDelta = y0 - this.offsets[anchor];
          const first = Math.max(0, this.indexAt(y0) - OVERSCAN);
          const last = Math.min(n - 1, this.indexAt(y1) + OVERSCAN);

          const want = new Set();
          for (let i = first; i <= last; i++) want.add(this.keys[i]);
          for (const [k, el] of this.rendered) {
            if (!want.has(k)) { el.remove(); this.rendered.delete(k); }
          }
          let prev = null;
          for (let i = first; i <= last; i++) {
            const k = this.keys[i];
            let el = this.rendered.get(k);
            if (!el) {
              el = this.opts.renderRow(this.items, i);
              this.rendered.set(k, el);
            }
            el.setAttribute('aria-posinset', String(i + 1));
            el.setAttribute('aria-setsize', String(n));
            el.style.transform = `translateY(${this.base + PAD + this.offsets[i]}px)`;
            // Keep DOM order = visual order (for assistive technology).
            const next = prev ? prev.nextSibling : this.canvas.firstChild;
            if (next !== el) this.canvas.insertBefore(el, next);
            prev = el;
          }
          // Measure.
          let changed = false;
          for (let i = first; i <= last; i++) {
            const k = this.keys[i];
            const hgt = this.rendered.get(k).offsetHeight;
            if (hgt > 0 && this.measured.get(k) !== hgt) { this.measured.set(k, hgt); changed = true; }
          }
          if (!changed) break;
          this.layout();
          for (let i = first; i <= last; i++) {
            this.rendered.get(this.keys[i]).style.transform = `translateY(${this.base + PAD + this.offsets[i]}px)`;
          }
          if (!this.stick) {
            // Keep the row at the top of the viewport where it was.
            const a = this.keys[anchor] === anchorKey ? anchor : this.keys.indexOf(anchorKey);
            if (a >= 0) {
              const target = this.offsets[a] + anchorDelta + this.base + PAD;
              if (Math.abs(target - s.scrollTop) >= 1) s.scrollTop = target;
            }
          }
        }
      } finally {
        this.lastTop = this.scroller.scrollTop;
        this.busy = false;
      }
    }
  }

  // Rough height of a row before it is measured.
  function estimateRow(items, i, width) {
    const m = items[i];
    const info = rowInfo(items, i);
    const bubbleW = Math.max(120, Math.min(560, (width || 600) * (isNarrow() ? 0.8 : 0.7)) - 24);
    if (isEvent(m)) return 6 + 24 + (info.sep ? 38 : 0);
    const text = m.unopened != null ? t('unopened') + '\n' + t('reason', { reason: m.unopened }) : String(m.text || '');
    let lines = 0;
    for (const para of text.split('\n')) {
      let w = 0;
      for (let j = 0; j < para.length; j++) w += para.charCodeAt(j) > 0x2e80 ? 15 : 7.6;
      lines += Math.max(1, Math.ceil(w / bubbleW));
    }
    const file = m.file ? (m.file.preview ? 212 : 48) : 0;
    const st = m.structured;
    const card = st && st.kind === 'card' ? 44 * ((st.buttons || []).length ? 1 : 0) + 48 * ((st.fields || []).length + ((st.fields || []).length ? 1 : 0)) : 0;
    if (m.file && !m.text) lines = 0;
    return 6 + 16 + lines * 21 + file + card + (info.sender ? 19 : 0) + (info.sep ? 38 : 0);
  }

  function dayOf(m) {
    if (m._day === undefined) m._day = dayNumber(m.server_time || 0);
    return m._day;
  }
  // Membership changes and the like: shown centred, not as a bubble.
  function isEvent(m) { return m.kind === 'event'; }
  function rowInfo(items, i) {
    const m = items[i], p = i > 0 ? items[i - 1] : null;
    const sep = !p || dayOf(p) !== dayOf(m);
    const event = isEvent(m);
    const sender = !event && !m.mine && (sep || !p || p.mine || isEvent(p) || p.sender !== m.sender);
    return { sep, sender, event };
  }
  function rowKey(items, i) {
    const m = items[i];
    const info = rowInfo(items, i);
    const id = m.pending ? 'p' + m.pendingId : 's' + m.seq;
    return id + (info.sep ? '|d' : '') + (info.sender ? '|n' : '');
  }

  function renderRow(items, i) {
    const m = items[i];
    const info = rowInfo(items, i);
    const cls = ['row', m.mine ? 'mine' : 'theirs'];
    if (m.pending) cls.push('pending');
    const row = h('div', { class: cls.join(' '), 'data-test': 'message', role: 'listitem', 'data-seq': m.pending ? false : String(m.seq) });
    if (m.pending) row.dataset.pending = 'true';
    if (info.sep) row.append(h('div', { class: 'day-sep' }, h('span', { text: dayLabel(m.server_time) })));
    if (info.event) {
      row.classList.remove('mine', 'theirs');
      row.classList.add('event');
      row.dataset.kind = 'event';
      row.append(h('div', { class: 'event-line' },
        h('span', { class: 'event-text', 'data-test': 'message-text', text: String(m.text == null ? '' : m.text) }),
        h('time', { class: 'time', datetime: fmt.iso(m.server_time || 0), text: fmt.time.format(m.server_time || 0) })));
      return row;
    }
    if (!m.mine && info.sender) {
      row.append(h('div', { class: 'sender', 'data-test': 'message-sender', title: '@' + m.sender, text: m.sender_name ? `${m.sender_name} (@${m.sender})` : m.sender }));
    }
    const bubble = h('div', { class: 'bubble' });
    // Screen readers hear who wrote each message even when it isn't shown.
    if (m.mine) bubble.append(h('span', { class: 'vh', text: t('you') + ': ' }));
    else if (!info.sender) bubble.append(h('span', { class: 'vh', text: (m.sender_name || m.sender) + ': ' }));
    if (m.unopened != null) {
      bubble.classList.add('unopened');
      bubble.append(
        h('span', { class: 'text', 'data-test': 'message-text', text: t('unopened') }),
        h('span', { class: 'reason', 'data-test': 'message-reason', text: t('reason', { reason: m.unopened }) }));
    } else {
      if (m.file) bubble.append(renderFile(m));
      const st = m.structured;
      if (st && st.kind === 'answer') bubble.append(h('span', { class: 'structured-note', 'data-test': 'message-answer', text: t('answered', { seq: st.to }) }));
      if (st && st.kind === 'request') {
        const what = st.request === 'erasure' ? t('erasureAsked') : t('segmentsAsked', { segments: (st.segments || []).join(', ') });
        bubble.append(h('span', { class: 'structured-note', 'data-test': 'message-request', text: what }));
      }
      if (!m.file || m.text) bubble.append(h('span', { class: 'text', 'data-test': 'message-text', text: String(m.text == null ? '' : m.text) }));
      if (st && st.kind === 'card') bubble.append(renderCard(m, st));
    }
    const time = m.pending
      ? h('span', { class: 'time', text: t('sending') })
      : h('time', { class: 'time', datetime: fmt.iso(m.server_time || 0), text: fmt.time.format(m.server_time || 0) });
    const line = h('div', { class: 'line' }, bubble, time);
    // Messages from others can be reported; the menu button is a real button (keyboard).
    if (!m.mine && !m.pending && m.unopened == null && typeof m.seq === 'number') {
      const menuBtn = h('button', { type: 'button', class: 'msg-menu-btn', 'data-test': 'message-menu',
        'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-label': t('messageMenu'), title: t('messageMenu') },
      h('span', { 'aria-hidden': 'true', text: '⋯' }));
      menuBtn.addEventListener('click', () => openMessageMenu(menuBtn, m));
      line.append(menuBtn);
    }
    row.append(line);
    return row;
  }

  // A card an official account sent: its buttons, or a simple form, which
  // answer it end to end. One's own cards, and cards already answered
  // from this device, are shown without their controls.
  function renderCard(m, st) {
    const box = h('div', { class: 'card', 'data-test': 'message-card' });
    if (m.mine || m.pending) return box;
    const cv = conv;
    const answer = async (body, controls) => {
      controls.forEach((c) => { c.disabled = true; });
      try {
        await sendPending(cv, t('sending'), () => api('POST', chatPath(cv.chat, `/messages/${encodeURIComponent(m.seq)}/answer`), body));
      } catch (e) {
        controls.forEach((c) => { c.disabled = false; });
        if (e.status !== 401 && cv === conv) convError.textContent = t('sendFailed', { msg: e.message });
      }
    };
    if (st.buttons && st.buttons.length) {
      const buttons = st.buttons.map((b) => h('button', { type: 'button', class: 'card-button', 'data-test': 'card-button', 'data-choice': b.id, text: b.label }));
      buttons.forEach((btn) => btn.addEventListener('click', () => answer({ choice: btn.dataset.choice }, buttons)));
      box.append(...buttons);
    }
    if (st.fields && st.fields.length) {
      const form = h('form', { class: 'card-form', 'data-test': 'card-form' });
      const inputs = st.fields.map((f) => {
        let input;
        if (f.kind === 'choice') {
          input = h('select', { name: f.id }, ...(f.options || []).map((o) => h('option', { value: o.id, text: o.label })));
        } else {
          input = h('input', { name: f.id, type: f.kind === 'date' ? 'date' : 'text', required: 'required' });
        }
        form.append(h('label', { class: 'card-field' }, h('span', { text: f.label }), input));
        return input;
      });
      const submit = h('button', { type: 'submit', 'data-test': 'card-submit', text: t('cardSend') });
      form.append(submit);
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const values = {};
        inputs.forEach((i) => { values[i.name] = i.value; });
        answer({ values }, [...inputs, submit]);
      });
      box.append(form);
    }
    return box;
  }

  function fileSize(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }
  // A file in a message: a picture only for the image types the app serves
  // as pictures (never SVG or anything that runs), otherwise a card to save
  // it. Nothing is fetched for a message still being sent.
  function renderFile(m) {
    const f = m.file;
    const box = h('div', { class: 'file', 'data-test': 'message-file' });
    if (m.pending || typeof m.seq !== 'number') {
      box.append(h('span', { class: 'file-name', text: f.name }));
      return box;
    }
    const src = chatPath(conv.chat, `/messages/${m.seq}/file`);
    if (f.preview) {
      // The sender's thumbnail at once, if there is one; the picture itself
      // replaces it once this device has fetched and opened it.
      const thumb = typeof f.thumbnail === 'string' && f.thumbnail.startsWith('data:image/jpeg;base64,') ? f.thumbnail : null;
      const img = h('img', { class: 'preview', 'data-test': 'file-preview', src: thumb || src, alt: f.name, decoding: 'async' });
      if (thumb) {
        img.dataset.thumbnail = 'true';
        const full = new Image();
        full.addEventListener('load', () => { img.src = src; img.dataset.thumbnail = 'false'; });
        full.src = src;
      }
      img.addEventListener('error', () => {
        img.replaceWith(h('span', { class: 'file-error', role: 'status', text: t('fileLoadFailed', { msg: f.name }) }));
      });
      box.append(img);
    }
    box.append(h('div', { class: 'file-card' },
      h('span', { class: 'file-name', 'data-test': 'file-name', text: f.name }),
      h('span', { class: 'file-size muted small', text: fileSize(f.size) }),
      h('a', { class: 'file-save', 'data-test': 'file-save', href: src + '?download=true', download: f.name, text: t('fileSave') })));
    return box;
  }

  const vlist = new VirtualList(scroller, canvas, { keyOf: rowKey, estimate: estimateRow, renderRow });

  // ---------------------------------------------------------------------
  // Conversation
  // ---------------------------------------------------------------------
  function setView(which) {
    layout.classList.toggle('show-list', which === 'list');
    layout.classList.toggle('show-conv', which === 'conv');
  }

  function currentChat() { return conv ? chats.find((c) => c.chat === conv.chat) : null; }

  function renderConvHeader() {
    if (!conv) return;
    const c = currentChat();
    convTitle.textContent = c ? chatTitle(c) : '';
    const members = c && Array.isArray(c.members) ? c.members : [];
    convMembers.textContent = members.length ? t('members', { list: members.join(', ') }) : '';
    const active = !c || c.active !== false;
    const request = c && c.request ? c.request : null;
    inactiveNote.hidden = active;
    requestBanner.hidden = !(active && request);
    if (request) requestText.textContent = t('requestFrom', { from: String(request.from || '?') });
    composerForm.hidden = !active || !!request;
    const wasEditable = !addMemberForm.hidden;
    addMemberForm.hidden = !active || !!request;
    leaveBox.hidden = !active;
    showOfficial(c && active ? c.official : null);
    if (wasEditable !== !addMemberForm.hidden) renderMembers();
    if (composerForm.hidden && document.activeElement === composer) convTitle.focus();
    for (const b of chatList.querySelectorAll('[data-test="chat-item"]')) {
      if (b.dataset.chat === conv.chat) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    }
  }

  function lastSeq(cv) {
    return cv.confirmed.length ? cv.confirmed[cv.confirmed.length - 1].seq : null;
  }

  function syncItems(cv) {
    if (cv !== conv) return;
    vlist.setItems(cv.confirmed.concat(cv.pending));
    const stick = vlist.stick || vlist.atBottom();
    vlist.stick = stick;
    vlist.render();
    convStatus.textContent = cv.loading ? t('loading') : (cv.confirmed.length || cv.pending.length ? '' : t('noMessages'));
    convStatus.hidden = !convStatus.textContent;
  }

  // Merges messages (any order) into the conversation's seq-ordered list.
  function addMessages(cv, msgs) {
    let added = false;
    for (const m of msgs) {
      if (!m || typeof m.seq !== 'number' || cv.seqs.has(m.seq)) continue;
      if (m.mine) {
        // Our own message arriving by another path before the POST answered.
        const j = cv.pending.findIndex((p) => p.text === m.text && !p.claimed);
        if (j >= 0) { cv.pending[j].claimed = true; cv.pending.splice(j, 1); }
      }
      cv.seqs.add(m.seq);
      const list = cv.confirmed;
      if (!list.length || list[list.length - 1].seq < m.seq) list.push(m);
      else {
        let lo = 0, hi = list.length;
        while (lo < hi) { const mid = (lo + hi) >> 1; if (list[mid].seq < m.seq) lo = mid + 1; else hi = mid; }
        list.splice(lo, 0, m);
      }
      added = true;
    }
    return added;
  }

  async function markRead(cv) {
    if (!cv || cv !== conv || cv.loading) return;
    const seq = lastSeq(cv);
    if (seq === null || seq <= cv.readSeq) return;
    cv.readSeq = seq;
    cv.readInFlight = (cv.readInFlight || 0) + 1;
    try {
      const r = await api('POST', chatPath(cv.chat, '/read'), { seq });
      const c = chats.find((x) => x.chat === cv.chat);
      if (c && r && typeof r.unread === 'number') c.unread = r.unread;
    } catch (e) {
      if (e.status !== 401) { cv.readSeq = -1; console.warn('kizuna: read', e.message); }
    } finally {
      cv.readInFlight -= 1;
      renderChatList();
    }
  }

  async function openChat(chat, { user = false } = {}) {
    if (sessionOver) return;
    if (conv && conv.chat === chat) {
      setView('conv');
      if (user) focusConversation();
      return;
    }
    const cv = {
      chat, confirmed: [], pending: [], seqs: new Set(), queue: [],
      loading: true, readSeq: -1, readInFlight: 0,
    };
    conv = cv;
    officialShown = null; // the badge is checked afresh each time a chat opens
    convSection.dataset.openChat = chat;
    delete convSection.dataset.loaded;
    convEmpty.hidden = true;
    convMain.hidden = false;
    convError.textContent = '';
    requestError.textContent = '';
    closeMessageMenu(false);
    membersPanel.open = false;
    members = null;
    membersError.textContent = '';
    safetyFor = null;
    safetyBox.hidden = true;
    safetyBox.replaceChildren();
    renderMembers();
    composer.value = '';
    autosize();
    setView('conv');
    renderConvHeader();
    try { history.replaceState(null, '', '#' + encodeURIComponent(chat)); } catch (_) { /* ignore */ }
    vlist.stick = true;
    vlist.setItems([]);
    vlist.reset();
    syncItems(cv);
    if (user) focusConversation();
    try {
      const r = await api('GET', chatPath(chat, '/messages'));
      if (cv !== conv) return;
      addMessages(cv, (r && Array.isArray(r.messages)) ? r.messages : []);
    } catch (e) {
      if (cv !== conv) return;
      if (e.status !== 401) convError.textContent = t('loadFailed', { msg: e.message });
    }
    addMessages(cv, cv.queue);
    cv.queue = [];
    cv.loading = false;
    vlist.stick = true;
    syncItems(cv);
    convSection.dataset.loaded = chat;
    if (windowActive()) await markRead(cv);
    else renderChatList();
  }

  function focusConversation() {
    if (isNarrow() || composerForm.hidden) convTitle.focus();
    else composer.focus();
  }

  function closeChat() {
    const was = conv ? conv.chat : null;
    conv = null;
    officialShown = null;
    delete convSection.dataset.openChat;
    delete convSection.dataset.loaded;
    convMain.hidden = true;
    convEmpty.hidden = false;
    vlist.setItems([]);
    vlist.reset();
    setView('list');
    try { history.replaceState(null, '', location.pathname + location.search); } catch (_) { /* ignore */ }
    renderChatList();
    if (was) {
      const b = chatList.querySelector(`[data-chat="${CSS.escape(was)}"]`);
      if (b) b.focus();
    }
  }
  backBtn.addEventListener('click', closeChat);

  // Re-reads the open conversation (after the event stream was down).
  async function resyncConversation() {
    const cv = conv;
    if (!cv || cv.loading) return;
    try {
      const r = await api('GET', chatPath(cv.chat, '/messages'));
      if (cv !== conv) return;
      if (addMessages(cv, (r && r.messages) || [])) syncItems(cv);
      if (windowActive()) markRead(cv);
    } catch (_) { /* the banner already says so */ }
  }

  // Composer -------------------------------------------------------------
  function autosize() {
    composer.style.height = 'auto';
    composer.style.height = Math.min(composer.scrollHeight + 2, 160) + 'px';
  }
  composer.addEventListener('input', () => { autosize(); if (convError.textContent) convError.textContent = ''; });
  composer.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.shiftKey || e.altKey) return;
    if (e.isComposing || e.keyCode === 229) return; // IME conversion (ja/ko)
    e.preventDefault();
    send();
  });
  composerForm.addEventListener('submit', (e) => { e.preventDefault(); send(); });

  // Files: chosen, pasted or dropped, each sent as its own message; the
  // text typed so far goes with the first as its caption.
  fileInput.addEventListener('change', () => {
    const files = Array.from(fileInput.files || []);
    fileInput.value = '';
    sendFiles(files);
  });
  composer.addEventListener('paste', (e) => {
    const files = Array.from((e.clipboardData && e.clipboardData.files) || []);
    if (!files.length) return;
    e.preventDefault();
    sendFiles(files);
  });
  convSection.addEventListener('dragover', (e) => {
    if (!conv || composerForm.hidden || !e.dataTransfer || !Array.from(e.dataTransfer.types || []).includes('Files')) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    convSection.classList.add('dropping');
  });
  convSection.addEventListener('dragleave', (e) => {
    if (e.target === convSection || !convSection.contains(e.relatedTarget)) convSection.classList.remove('dropping');
  });
  convSection.addEventListener('drop', (e) => {
    convSection.classList.remove('dropping');
    if (!conv || composerForm.hidden || !e.dataTransfer) return;
    const files = Array.from(e.dataTransfer.files || []);
    if (!files.length) return;
    e.preventDefault();
    sendFiles(files);
  });

  // A message shown as being sent while `request` runs, then as sent; on
  // failure it goes and the error is thrown on.
  async function sendPending(cv, text, request) {
    const p = {
      pending: true, pendingId: ++pendingId, text, mine: true,
      sender: me ? me.handle : '', server_time: Date.now(), unopened: null,
    };
    cv.pending.push(p);
    vlist.stick = true;
    syncItems(cv);
    const drop = () => {
      const j = cv.pending.indexOf(p);
      if (j >= 0) cv.pending.splice(j, 1);
    };
    let msg;
    try {
      msg = await request();
    } catch (e) {
      drop();
      syncItems(cv);
      throw e;
    }
    drop();
    if (msg && typeof msg.seq === 'number') {
      if (msg.mine === undefined) msg.mine = true;
      addMessages(cv, [msg]);
      // The server marks its own message read; don't ask again.
      if (msg.seq > cv.readSeq && cv.confirmed.length && lastSeq(cv) === msg.seq) cv.readSeq = msg.seq;
    }
    syncItems(cv);
  }

  async function sendFiles(files) {
    const cv = conv;
    if (!cv || !files.length) return;
    let caption = composer.value.trim();
    composer.value = '';
    autosize();
    convError.textContent = '';
    for (const file of files) {
      const q = new URLSearchParams({ name: file.name || 'file' });
      if (caption) q.set('caption', caption);
      try {
        await sendPending(cv, t('sendingFile', { name: file.name }),
          () => api('POST', chatPath(cv.chat, '/files?' + q.toString()), file));
        caption = '';
      } catch (e) {
        if (e.status === 401) return;
        if (cv === conv) {
          if (caption && !composer.value) { composer.value = caption; autosize(); }
          convError.textContent = t('sendFailed', { msg: `${file.name}: ${e.message}` });
        }
        break;
      }
    }
    refreshChats();
  }

  async function send() {
    const cv = conv;
    if (!cv) return;
    const text = composer.value;
    if (!text.trim()) return;
    composer.value = '';
    autosize();
    convError.textContent = '';
    try {
      await sendPending(cv, text, () => api('POST', chatPath(cv.chat, '/messages'), { text }));
    } catch (e) {
      if (e.status === 401) return;
      if (cv === conv) {
        if (!composer.value) { composer.value = text; autosize(); }
        convError.textContent = t('sendFailed', { msg: e.message });
      }
    }
    refreshChats();
  }

  // ---------------------------------------------------------------------
  // Live events
  // ---------------------------------------------------------------------
  let announceTimer = 0;
  function announce(text) {
    clearTimeout(announceTimer);
    live.textContent = '';
    announceTimer = setTimeout(() => { live.textContent = text; }, 50);
  }

  function onMessageEvent(data) {
    if (!data || !data.chat || !data.message) return;
    const m = data.message;
    let read = Promise.resolve();
    if (conv && conv.chat === data.chat) {
      if (conv.loading) conv.queue.push(m);
      else if (addMessages(conv, [m])) {
        syncItems(conv);
        if (windowActive()) read = markRead(conv);
      }
    }
    if (isEvent(m)) {
      if (conv && conv.chat === data.chat) announce(truncate(m.text, 140));
    } else if (!m.mine) {
      const text = m.unopened != null ? t('unopened') : truncate(m.text, 140);
      if (conv && conv.chat === data.chat) announce(t('newMessage', { sender: m.sender_name || m.sender, text }));
      else {
        const c = chats.find((x) => x.chat === data.chat);
        announce(t('newMessageIn', { sender: m.sender_name || m.sender, chat: c ? chatTitle(c) : '' }));
      }
    }
    read.finally(refreshChats);
  }

  let lastSessionCheck = 0;
  function checkSession() {
    const now = Date.now();
    if (now - lastSessionCheck < 5000) return;
    lastSessionCheck = now;
    api('GET', '/api/me').then(() => {}, () => {});
  }

  function connectEvents() {
    if (sessionOver || typeof EventSource !== 'function') return;
    let hadError = false;
    const source = new EventSource('/api/events');
    es = source;
    source.addEventListener('open', () => {
      localDown = false;
      updateBanner();
      if (hadError) {
        hadError = false;
        refreshChats();
        resyncConversation();
      }
    });
    source.addEventListener('error', () => {
      if (es !== source) return;
      hadError = true;
      localDown = true;
      updateBanner();
      checkSession();
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. an HTTP error): try again ourselves.
        source.close();
        setTimeout(() => { if (es === source) connectEvents(); }, 3000);
      }
    });
    const parse = (ev) => { try { return JSON.parse(ev.data); } catch (_) { return null; } };
    source.addEventListener('message', (ev) => onMessageEvent(parse(ev)));
    source.addEventListener('chats', () => refreshChats());
    source.addEventListener('announcement', (ev) => showAnnouncement(parse(ev)));
    source.addEventListener('announcement_refused', (ev) => {
      const d = parse(ev);
      if (d && d.message) showTamper(d.message, 'announcementTamper');
    });
    source.addEventListener('key_not_logged', (ev) => {
      const d = parse(ev);
      if (d && d.message) showTamper(d.message, 'memberKeys');
    });
    source.addEventListener('status', (ev) => {
      const d = parse(ev);
      nodeConnected = !(d && d.connected === false);
      updateBanner();
    });
  }

  function onActive() {
    if (conv && !conv.loading && windowActive()) markRead(conv);
  }
  window.addEventListener('focus', onActive);
  document.addEventListener('visibilitychange', onActive);

  // Escape in the conversation on a phone goes back to the list.
  convSection.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && isNarrow() && conv && e.target !== composer) { e.preventDefault(); closeChat(); }
  });

  // ---------------------------------------------------------------------
  // v2: shared pieces
  // ---------------------------------------------------------------------
  function fmtDateTime(ms) {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
    return fmt.dateTime.format(ms);
  }
  function isoOf(ms) {
    return typeof ms === 'number' && Number.isFinite(ms) ? fmt.iso(ms) : null;
  }
  function countryName(code) {
    if (!code) return '—';
    const c = String(code).toUpperCase();
    try {
      const n = fmt.regions && /^[A-Z]{2}$/.test(c) ? fmt.regions.of(c) : null;
      if (n && n !== c) return `${n} (${c})`;
    } catch (_) { /* unknown code */ }
    return c;
  }
  function humanKey(k) { return String(k).replace(/_/g, ' '); }
  // A translated label for a code the server sends (category, action, ...),
  // or the code made readable when this page doesn't know it.
  function label(prefix, k) {
    const key = prefix + k;
    return (STRINGS[lang][key] || STRINGS.en[key]) ? t(key) : humanKey(k);
  }
  function isTimeKey(k) { return /(^|_)(at|ms|since|until|time)$/.test(String(k)) || /^timestamp/.test(String(k)); }
  // Any JSON value, readably: used for what this page doesn't know the shape of.
  function renderValue(v, key, depth = 0) {
    if (v === null || v === undefined) return h('span', { class: 'muted', text: '—' });
    if (typeof v === 'boolean') return document.createTextNode(t(v ? 'yes' : 'no'));
    if (typeof v === 'number') return document.createTextNode(key && isTimeKey(key) && v > 1e11 ? fmtDateTime(v) : String(v));
    if (typeof v === 'string') return document.createTextNode(v);
    if (Array.isArray(v)) {
      if (!v.length) return h('span', { class: 'muted', text: t('none') });
      if (v.every((x) => x === null || typeof x !== 'object')) return document.createTextNode(v.map((x) => String(x)).join(', '));
      return h('ul', { class: 'kv-list' }, ...v.map((x) => h('li', {}, renderValue(x, key, depth + 1))));
    }
    if (typeof v === 'object') return depth > 5 ? document.createTextNode('…') : kvList(v, [], depth + 1);
    return document.createTextNode(String(v));
  }
  function kvList(obj, skip, depth = 0) {
    const dl = h('dl', { class: 'kv' });
    for (const [k, v] of Object.entries(obj || {})) {
      if (skip && skip.includes(k)) continue;
      dl.append(h('div', { class: 'kv-row' }, h('dt', { text: label('key_', k) }), h('dd', {}, renderValue(v, k, depth))));
    }
    return dl.childNodes.length ? dl : null;
  }
  // rows: [label, string | Node] (null rows are left out)
  function dlRows(rows) {
    const dl = h('dl', { class: 'kv' });
    for (const r of rows) {
      if (!r) continue;
      const [k, v] = r;
      dl.append(h('div', { class: 'kv-row' }, h('dt', { text: k }), h('dd', {}, typeof v === 'string' ? document.createTextNode(v) : v)));
    }
    return dl;
  }
  function dataTable(items) {
    const cols = [];
    for (const it of items) for (const k of Object.keys(it || {})) if (!cols.includes(k)) cols.push(k);
    return h('div', { class: 'table-wrap' }, h('table', { class: 'data-table' },
      h('thead', {}, h('tr', {}, ...cols.map((c) => h('th', { scope: 'col', text: label('key_', c) })))),
      h('tbody', {}, ...items.map((it) => h('tr', {}, ...cols.map((c) => h('td', {}, renderValue(it ? it[c] : null, c))))))));
  }
  function statusLine(st, loadingKey = 'loading') {
    if (!st || (st.status === 'loading' && st.data == null)) return h('p', { class: 'muted', role: 'status', text: t(loadingKey) });
    if (st.status === 'error') return h('p', { class: 'error', role: 'alert', text: t('loadFailedShort', { msg: st.error }) });
    return null;
  }

  // Replaces what `box` holds with a question and Cancel / confirm; Cancel
  // puts it back. onConfirm may throw an ApiError, shown in the box.
  function askFirst(box, trigger, { question, confirm, hook, onConfirm, onCancel }) {
    const before = [...box.childNodes];
    const yes = h('button', { type: 'button', class: 'btn danger', 'data-test': hook, text: confirm });
    const no = h('button', { type: 'button', class: 'btn secondary', text: t('cancel') });
    const err = h('div', { class: 'error', role: 'alert' });
    const restore = () => {
      box.replaceChildren(...before);
      if (trigger.isConnected) trigger.focus();
      if (onCancel) onCancel();
    };
    no.addEventListener('click', restore);
    box.addEventListener('keydown', function esc(e) {
      if (e.key === 'Escape' && no.isConnected) { e.preventDefault(); e.stopPropagation(); box.removeEventListener('keydown', esc); restore(); }
    });
    yes.addEventListener('click', async () => {
      yes.disabled = true; no.disabled = true;
      try {
        await onConfirm();
        if (yes.isConnected) box.replaceChildren(...before);
      } catch (e) {
        yes.disabled = false; no.disabled = false;
        if (e.status !== 401) err.textContent = t('actionFailed', { msg: e.message });
      }
    });
    box.replaceChildren(h('p', { class: 'confirm-q', text: question }), h('div', { class: 'actions' }, no, yes), err);
    no.focus();
  }

  // ---------------------------------------------------------------------
  // v2: members of the open chat, leaving, chat requests
  // ---------------------------------------------------------------------
  let members = null; // [{handle, devices}] of the open chat, once loaded
  let membersSeq = 0;
  const membersCount = h('span', { class: 'muted' });
  membersSummary.append(membersCount);

  function renderMembers() {
    // Rebuilt whenever the chat list changes (a message arrives): a keyboard
    // user's focus stays on the same member's button.
    const focused = membersList.contains(document.activeElement) ? document.activeElement : null;
    const focusedHandle = focused && focused.closest('[data-handle]') ? focused.closest('[data-handle]').dataset.handle : null;
    const focusedTest = focused ? focused.dataset.test : null;
    membersList.replaceChildren();
    membersCount.textContent = members ? ` (${members.length})` : '';
    if (!conv || !members) {
      membersStatus.textContent = membersPanel.open && conv ? t('loading') : '';
      return;
    }
    membersStatus.textContent = '';
    const c = currentChat();
    const canEdit = !!c && c.active !== false && !c.request;
    for (const m of members) {
      const mine = !!me && m.handle === me.handle;
      const n = Array.isArray(m.devices) ? m.devices.length : 0;
      const li = h('li', { class: 'member-item', 'data-test': 'member-item', 'data-handle': m.handle },
        h('span', { class: 'member-handle', text: String(m.handle) }),
        mine ? h('span', { class: 'tag muted-tag', text: t('you') }) : null,
        h('span', { class: 'muted small member-devices', text: t(n === 1 ? 'deviceCountOne' : 'deviceCount', { n }) }));
      if (!mine) {
        const sb = h('button', { type: 'button', class: 'btn secondary small-btn', 'data-test': 'safety-number',
          'aria-label': t('safetyNumberNamed', { handle: m.handle }), text: t('safetyNumber') });
        sb.addEventListener('click', () => showSafety(m.handle));
        li.append(sb);
      }
      if (canEdit && !mine) {
        const b = h('button', { type: 'button', class: 'btn secondary small-btn', 'data-test': 'remove-member',
          'aria-label': t('removeMemberNamed', { handle: m.handle }), text: t('removeMember') });
        b.addEventListener('click', () => removeMember(m.handle, b));
        li.append(b);
      }
      membersList.append(li);
      if (focusedHandle === m.handle && focusedTest) {
        const again = li.querySelector(`[data-test="${focusedTest}"]`);
        if (again) again.focus();
      }
    }
  }

  async function loadMembers() {
    const cv = conv;
    if (!cv) return;
    const my = ++membersSeq;
    try {
      const r = await api('GET', chatPath(cv.chat, '/members'));
      if (cv !== conv || my !== membersSeq) return;
      members = Array.isArray(r) ? r.filter((x) => x && typeof x.handle === 'string') : [];
      membersError.textContent = '';
    } catch (e) {
      if (cv !== conv || my !== membersSeq) return;
      if (e.status !== 401) membersError.textContent = t('membersFailed', { msg: e.message });
    }
    renderMembers();
  }
  // Safety numbers: shown from a member's row, confirmed once compared.
  let safetyFor = null;
  async function showSafety(handle) {
    safetyFor = handle;
    safetyBox.hidden = false;
    safetyBox.replaceChildren(h('p', { class: 'muted small', text: t('loading') }));
    try {
      renderSafety(await api('GET', '/api/people/' + encodeURIComponent(handle) + '/safety'));
    } catch (e) {
      if (safetyFor !== handle) return;
      safetyBox.replaceChildren(h('p', { class: 'error', role: 'alert', text: t('safetyFailed', { msg: e.message }) }));
    }
  }
  function renderSafety(n) {
    if (!n || n.handle !== safetyFor) return;
    const groups = String(n.digits || '').split(' ');
    const rows = [];
    for (let i = 0; i < groups.length; i += 4) rows.push(h('div', { text: groups.slice(i, i + 4).join(' ') }));
    const state = n.standing && n.standing.state;
    const standing = h('p', { class: 'safety-standing ' + (state || ''), 'data-test': 'safety-standing', 'data-state': state || '',
      text: t(state === 'verified' ? 'safetyVerified' : state === 'changed' ? 'safetyChanged' : 'safetyUnverified') });
    const kids = [
      h('h3', { class: 'safety-title', text: t('safetyTitle', { handle: n.handle }) }),
      h('div', { class: 'safety-digits', 'data-test': 'safety-digits', 'data-digits': n.digits }, ...rows),
      standing,
      h('p', { class: 'muted small', text: t('safetyExplain', { handle: n.handle }) }),
      h('p', { class: 'muted small' }, t('safetyText') + ' ', h('code', { class: 'safety-text', text: n.text })),
    ];
    if (state !== 'verified') {
      const b = h('button', { type: 'button', class: 'btn', 'data-test': 'safety-confirm', text: t('safetyConfirm') });
      b.addEventListener('click', async () => {
        b.disabled = true;
        try {
          renderSafety(await api('POST', '/api/people/' + encodeURIComponent(n.handle) + '/safety', { digits: n.digits }));
          refreshKeyChanges();
        } catch (e) {
          b.disabled = false;
          safetyBox.append(h('p', { class: 'error', role: 'alert', text: t('safetyFailed', { msg: e.message }) }));
        }
      });
      kids.push(b);
    }
    safetyBox.replaceChildren(...kids);
  }
  let keysChanged = [];
  async function refreshKeyChanges() {
    try {
      const list = await api('GET', '/api/safety/changed');
      keysChanged = Array.isArray(list) ? list.filter((n) => n && typeof n.handle === 'string') : [];
    } catch (_) { return; }
    renderKeyChanges();
  }
  function renderKeyChanges() {
    keysBanner.hidden = keysChanged.length === 0;
    keysBanner.replaceChildren(...keysChanged.map((n) => {
      const p = h('p', { 'data-handle': n.handle }, '⚠ ' + t('keysChanged', { handle: n.handle }) + ' ');
      const b = h('button', { type: 'button', class: 'btn small-btn', 'data-test': 'keys-banner-compare', text: t('safetyNumber') });
      b.addEventListener('click', () => {
        const c = chats.find((x) => Array.isArray(x.members) && x.members.includes(n.handle));
        if (c) openChat(c.chat);
        membersPanel.open = true;
        showSafety(n.handle);
      });
      p.append(b);
      return p;
    }));
  }
  membersPanel.addEventListener('toggle', () => {
    if (membersPanel.open) { renderMembers(); loadMembers(); }
  });

  async function afterMembership(cv) {
    await Promise.all([loadMembers(), refreshChats()]);
    if (cv === conv) resyncConversation();
  }

  addMemberForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const cv = conv;
    if (!cv) return;
    const handle = addMemberInput.value.trim().replace(/^@/, '');
    if (!handle) { membersError.textContent = t('needHandle'); addMemberInput.focus(); return; }
    addMemberBtn.disabled = true;
    membersError.textContent = '';
    try {
      await api('POST', chatPath(cv.chat, '/members'), { handle });
      addMemberInput.value = '';
      announce(t('memberAdded', { handle }));
      await afterMembership(cv);
    } catch (err) {
      if (err.status !== 401 && cv === conv) membersError.textContent = t('addMemberFailed', { msg: err.message });
    } finally {
      addMemberBtn.disabled = false;
      if (cv === conv && !addMemberForm.hidden) addMemberInput.focus();
    }
  });

  async function removeMember(handle, btn) {
    const cv = conv;
    if (!cv) return;
    btn.disabled = true;
    membersError.textContent = '';
    try {
      await api('DELETE', chatPath(cv.chat, '/members/' + encodeURIComponent(handle)));
      announce(t('memberRemoved', { handle }));
      await afterMembership(cv);
      if (cv === conv && !addMemberForm.hidden) addMemberInput.focus();
    } catch (err) {
      btn.disabled = false;
      if (err.status !== 401 && cv === conv) membersError.textContent = t('removeMemberFailed', { msg: err.message });
    }
  }

  leaveBtn.addEventListener('click', () => {
    const cv = conv;
    if (!cv) return;
    askFirst(leaveBox, leaveBtn, {
      question: t('leaveQuestion'),
      confirm: t('leaveConfirm'),
      hook: 'leave-confirm',
      onConfirm: async () => {
        await api('POST', chatPath(cv.chat, '/leave'), {});
        await refreshChats();
        if (cv === conv) { membersPanel.open = false; convTitle.focus(); }
      },
    });
  });

  async function answerRequest(kind) {
    const cv = conv;
    if (!cv) return;
    const buttons = [requestAccept, requestDecline, requestBlock];
    requestError.textContent = '';
    for (const b of buttons) b.disabled = true;
    try {
      if (kind === 'accept') {
        await api('POST', chatPath(cv.chat, '/accept'), {});
        await refreshChats();
        // What waited in the request may have reached the device after
        // the chat was opened: read it again now that it is shown.
        if (cv === conv) await resyncConversation();
        if (cv === conv && !composerForm.hidden) composer.focus();
      } else {
        await api('POST', chatPath(cv.chat, '/decline'), { block: kind === 'block' });
        await refreshChats();
        if (cv === conv) {
          announce(t(kind === 'block' ? 'requestBlocked' : 'requestDeclined'));
          closeChat();
          if (document.activeElement === document.body) newChatBtn.focus();
        }
      }
    } catch (e) {
      if (e.status !== 401 && cv === conv) requestError.textContent = t('actionFailed', { msg: e.message });
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }
  requestAccept.addEventListener('click', () => answerRequest('accept'));
  requestDecline.addEventListener('click', () => answerRequest('decline'));
  requestBlock.addEventListener('click', () => answerRequest('block'));

  // ---------------------------------------------------------------------
  // v2: the message menu and the report dialog
  // ---------------------------------------------------------------------
  const reportItem = h('button', { type: 'button', role: 'menuitem', class: 'menu-item', 'data-test': 'report-open', i18n: 'reportMenu' });
  const msgMenu = h('div', { class: 'msg-menu', role: 'menu', hidden: true }, reportItem);
  i18nAttrs(msgMenu, 'aria-label:messageMenu');
  root.append(msgMenu);
  let menuFor = null; // {btn, m, chat}

  function openMessageMenu(btn, m) {
    if (menuFor && menuFor.btn === btn) { closeMessageMenu(true); return; }
    closeMessageMenu(false);
    if (!conv) return;
    menuFor = { btn, m, chat: conv.chat };
    btn.setAttribute('aria-expanded', 'true');
    msgMenu.hidden = false;
    const r = btn.getBoundingClientRect();
    const mw = msgMenu.offsetWidth, mh = msgMenu.offsetHeight;
    const left = Math.max(8, Math.min(r.right - mw, window.innerWidth - mw - 8));
    let top = r.bottom + 4;
    if (top + mh > window.innerHeight - 8) top = Math.max(8, r.top - mh - 4);
    msgMenu.style.left = left + 'px';
    msgMenu.style.top = top + 'px';
    reportItem.focus();
  }
  function closeMessageMenu(refocus) {
    if (!menuFor) return;
    const { btn } = menuFor;
    menuFor = null;
    msgMenu.hidden = true;
    btn.setAttribute('aria-expanded', 'false');
    if (refocus && btn.isConnected) btn.focus();
  }
  msgMenu.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' || e.key === 'Tab') { e.preventDefault(); closeMessageMenu(true); }
  });
  document.addEventListener('pointerdown', (e) => {
    if (menuFor && !msgMenu.contains(e.target) && !menuFor.btn.contains(e.target)) closeMessageMenu(false);
  }, true);
  window.addEventListener('resize', () => closeMessageMenu(false));
  reportItem.addEventListener('click', () => {
    const f = menuFor;
    closeMessageMenu(false);
    if (f) openReportDialog(f);
  });

  const REASONS = ['spam', 'harassment', 'illegal', 'other'];
  const reportReason = h('select', { id: 'report-reason', 'data-test': 'report-reason' },
    ...REASONS.map((r) => h('option', { value: r, i18n: 'reason_' + r })));
  const reportNote = h('textarea', { id: 'report-note', 'data-test': 'report-note', rows: '3', maxlength: '1000' });
  const reportPreceding = h('input', { id: 'report-preceding', type: 'number', min: '0', max: '20', step: '1', value: '0',
    inputmode: 'numeric', 'data-test': 'report-preceding', 'aria-describedby': 'report-preceding-hint' });
  const reportQuote = h('blockquote', { class: 'report-quote' });
  const reportError = h('div', { class: 'error', role: 'alert' });
  const reportSubmit = h('button', { type: 'submit', class: 'btn danger', 'data-test': 'report-submit', i18n: 'reportSubmit' });
  const reportCancel = h('button', { type: 'button', class: 'btn secondary', 'data-test': 'report-cancel', i18n: 'cancel' });
  const reportForm = h('form', { class: 'dialog-form', novalidate: true },
    h('h2', { id: 'report-title', i18n: 'reportTitle' }),
    reportQuote,
    h('p', { class: 'muted small', i18n: 'reportExplain' }),
    h('label', { for: 'report-reason', i18n: 'reportReasonLabel' }), reportReason,
    h('label', { for: 'report-note', i18n: 'reportNoteLabel' }), reportNote,
    h('label', { for: 'report-preceding', i18n: 'reportPrecedingLabel' }), reportPreceding,
    h('p', { class: 'muted small', id: 'report-preceding-hint', i18n: 'reportPrecedingHint' }),
    reportError,
    h('div', { class: 'actions' }, reportCancel, reportSubmit));
  const reportDoneText = h('p', {});
  const reportDoneRef = h('p', { class: 'muted small' });
  const reportDoneClose = h('button', { type: 'button', class: 'btn', 'data-test': 'report-close', i18n: 'close' });
  const reportDone = h('div', { class: 'dialog-form', 'data-test': 'report-done', role: 'status', hidden: true },
    h('h2', { i18n: 'reportDoneTitle' }), reportDoneText, reportDoneRef, h('div', { class: 'actions' }, reportDoneClose));
  const reportDialog = h('dialog', { class: 'dialog', 'data-test': 'report-dialog', 'aria-labelledby': 'report-title' }, reportForm, reportDone);
  root.append(reportDialog);
  let reporting = null; // {btn, m, chat}

  function openReportDialog(f) {
    reporting = f;
    reportReason.value = 'spam';
    reportNote.value = '';
    reportPreceding.value = '0';
    reportError.textContent = '';
    reportQuote.replaceChildren(
      h('span', { class: 'muted small', text: t('reportQuoteFrom', { sender: String(f.m.sender || '') }) }),
      h('span', { class: 'quote-text', text: truncate(f.m.text, 300) }));
    reportForm.hidden = false;
    reportDone.hidden = true;
    reportSubmit.disabled = false;
    if (typeof reportDialog.showModal === 'function') reportDialog.showModal();
    else reportDialog.setAttribute('open', '');
    reportReason.focus();
  }
  function closeReportDialog() {
    if (reportDialog.open) reportDialog.close();
  }
  function closeDialogs() {
    closeMessageMenu(false);
    closeReportDialog();
  }
  reportDialog.addEventListener('close', () => {
    const f = reporting;
    reporting = null;
    if (sessionOver) return;
    if (f && f.btn && f.btn.isConnected) f.btn.focus();
    else if (conv) scroller.focus();
  });
  reportCancel.addEventListener('click', closeReportDialog);
  reportDoneClose.addEventListener('click', closeReportDialog);
  reportForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = reporting;
    if (!f) return;
    let n = Math.round(Number(reportPreceding.value));
    if (!Number.isFinite(n)) n = 0;
    n = Math.max(0, Math.min(20, n));
    reportPreceding.value = String(n);
    const note = reportNote.value.trim();
    reportSubmit.disabled = true;
    reportError.textContent = '';
    try {
      const r = await api('POST', chatPath(f.chat, `/messages/${encodeURIComponent(f.m.seq)}/report`),
        { reason: reportReason.value, note: note || null, preceding: n });
      if (reporting !== f) return;
      reportDoneText.textContent = t(n ? 'reportDoneText' : 'reportDoneTextOne', { n });
      reportDoneRef.textContent = r && r.report_id ? t('reportRef', { id: String(r.report_id) }) : '';
      reportDone.dataset.reportId = r && r.report_id ? String(r.report_id) : '';
      reportForm.hidden = true;
      reportDone.hidden = false;
      reportDoneClose.focus();
      if (pstate.reports) loadReports();
    } catch (err) {
      if (err.status !== 401 && reporting === f) reportError.textContent = t('reportFailed', { msg: err.message });
    } finally {
      reportSubmit.disabled = false;
    }
  });

  // ---------------------------------------------------------------------
  // v2: sections (Chats | Privacy | Settings)
  // ---------------------------------------------------------------------
  let view = 'chats';
  function showView(next, { focus = false } = {}) {
    if (sessionOver || !navButtons[next]) return;
    view = next;
    layout.hidden = next !== 'chats';
    privacyView.hidden = next !== 'privacy';
    settingsView.hidden = next !== 'settings';
    for (const [k, b] of Object.entries(navButtons)) {
      if (k === next) b.setAttribute('aria-current', 'page'); else b.removeAttribute('aria-current');
    }
    document.body.dataset.view = next;
    closeMessageMenu(false);
    let hash = '';
    if (next !== 'chats') hash = '#' + next;
    else if (conv) hash = '#' + encodeURIComponent(conv.chat);
    try { history.replaceState(null, '', hash || (location.pathname + location.search)); } catch (_) { /* ignore */ }
    if (next === 'privacy') { loadPrivacy(); if (focus) privacyHeading.focus(); }
    if (next === 'settings') { loadSettings(); if (focus) settingsHeading.focus(); }
    if (next === 'chats' && conv && windowActive()) markRead(conv);
  }
  for (const [k, b] of Object.entries(navButtons)) b.addEventListener('click', () => showView(k, { focus: true }));

  function section(hook, titleKey, ...children) {
    const id = 'sec-' + hook;
    return h('section', { class: 'card-section', 'data-test': hook, 'aria-labelledby': id },
      h('h3', { id, tabindex: '-1', i18n: titleKey }), ...children);
  }

  // ---------------------------------------------------------------------
  // v2: privacy centre
  // ---------------------------------------------------------------------
  const pstate = {};   // key -> {status: 'loading'|'ok'|'error'|'tampered', data, error}
  const inflight = {};
  async function loadInto(key, fetcher, render, box) {
    if (inflight[key]) return inflight[key];
    if (!pstate[key]) pstate[key] = { status: 'loading', data: null, error: null };
    const st = pstate[key];
    render();
    inflight[key] = (async () => {
      try {
        st.data = await fetcher();
        st.status = 'ok';
        st.error = null;
      } catch (e) {
        if (e.status === 401) return;
        st.status = e.code === 'ledger_tampered' ? 'tampered' : 'error';
        st.error = e.message;
        st.data = null;
      } finally {
        inflight[key] = null;
      }
      render();
      box.dataset.loaded = 'true';
    })();
    return inflight[key];
  }

  const privacyHeading = h('h2', { id: 'privacy-heading', tabindex: '-1', i18n: 'privacyTitle' });
  const requestsBody = h('div', {});
  const requestsBox = section('privacy-requests', 'requestsTitle', h('p', { class: 'muted small', i18n: 'requestsExplain' }), requestsBody);
  const noticesBody = h('div', {});
  const noticesBox = section('moderation-notices', 'noticesTitle', noticesBody);
  const accessBody = h('div', {});
  const accessRefresh = h('button', { type: 'button', class: 'btn secondary', 'data-test': 'access-refresh', i18n: 'accessCheckAgain' });
  const accessBox = section('access-log', 'accessTitle', h('p', { class: 'muted small', i18n: 'accessExplain' }), accessBody,
    h('div', { class: 'actions start' }, accessRefresh));
  const dataMapBody = h('div', {});
  const dataMapBox = section('data-map', 'dataMapTitle', dataMapBody);
  const reportsBody = h('div', {});
  const reportsBox = section('my-reports', 'myReportsTitle', reportsBody);
  const exportLink = h('a', { href: '/api/privacy/export', download: true, class: 'btn', 'data-test': 'export-link', i18n: 'exportLink' });
  const exportBox = section('export', 'exportTitle', h('p', { i18n: 'exportExplain' }), h('div', { class: 'actions start' }, exportLink));
  const eraseInput = h('input', { id: 'erase-confirm', type: 'text', 'data-test': 'erase-confirm', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
  const eraseLabel = h('label', { for: 'erase-confirm' });
  const eraseBtn = h('button', { type: 'submit', class: 'btn danger', 'data-test': 'erase-submit', disabled: true, i18n: 'eraseSubmit' });
  const eraseError = h('div', { class: 'error', role: 'alert' });
  const eraseForm = h('form', { class: 'inline-form', novalidate: true },
    eraseLabel, h('div', { class: 'row-fields' }, eraseInput, eraseBtn), eraseError);
  const eraseBox = section('erase', 'eraseTitle', h('p', { i18n: 'eraseExplain' }), h('p', { class: 'strong', i18n: 'eraseWarning' }), eraseForm);
  eraseBox.classList.add('danger-zone');
  privacyView.append(h('div', { class: 'page-inner' }, privacyHeading,
    requestsBox, noticesBox, accessBox, dataMapBox, reportsBox, exportBox, eraseBox));

  function loadRequests() {
    return loadInto('requests', () => api('GET', '/api/privacy/requests'), renderRequests, requestsBox);
  }
  function loadReports() {
    return loadInto('reports', () => api('GET', '/api/reports'), renderReports, reportsBox);
  }
  function loadAccesses() {
    return loadInto('accesses', () => api('GET', '/api/privacy/accesses'), renderAccesses, accessBox);
  }
  function loadPrivacy() {
    loadRequests();
    loadInto('moderation', () => api('GET', '/api/moderation'), renderNotices, noticesBox);
    loadAccesses();
    loadInto('dataMap', () => api('GET', '/api/privacy/data-map'), renderDataMap, dataMapBox);
    loadReports();
    renderErase();
  }
  accessRefresh.addEventListener('click', () => loadAccesses());

  // Requests from staff to see my data.
  const grantAnswers = new Map(); // grant_id -> 'agreed' | 'declined'
  function renderRequests() {
    const st = pstate.requests;
    const s = statusLine(st);
    if (s) { requestsBody.replaceChildren(s); return; }
    const list = Array.isArray(st.data) ? st.data.filter((r) => r && r.grant_id != null) : [];
    if (!list.length) { requestsBody.replaceChildren(h('p', { class: 'muted', text: t('requestsNone') })); return; }
    const ul = h('ul', { class: 'item-list' });
    for (const r of list) {
      const id = String(r.grant_id);
      const answered = grantAnswers.get(id);
      const li = h('li', { class: 'item', 'data-test': 'privacy-request', 'data-grant': id, 'data-state': answered || 'open' });
      li.append(h('p', { class: 'item-title', text: t('requestWho', { staff: String(r.staff_id || '?'), org: String(r.org_id || '?') }) }));
      const fields = Array.isArray(r.fields) ? r.fields.map((f) => label('cat_', f)).join(', ') : '—';
      li.append(dlRows([
        [t('requestFields'), fields],
        [t('requestPurpose'), String(r.purpose || '—')],
        [t('requestAskedAt'), fmtDateTime(r.requested_at)],
      ]));
      const extra = kvList(r, ['grant_id', 'org_id', 'staff_id', 'fields', 'purpose', 'requested_at']);
      if (extra) li.append(extra);
      const err = h('div', { class: 'error', role: 'alert' });
      if (answered) {
        li.append(h('p', { class: 'state ' + answered, 'data-test': 'request-state', tabindex: '-1',
          text: t(answered === 'agreed' ? 'requestAgreedState' : 'requestDeclinedState') }));
      } else {
        const agree = h('button', { type: 'button', class: 'btn', 'data-test': 'request-agree', text: t('requestAgree') });
        const decline = h('button', { type: 'button', class: 'btn secondary', 'data-test': 'request-decline', text: t('requestDeclineGrant') });
        const answer = async (how) => {
          agree.disabled = true; decline.disabled = true; err.textContent = '';
          try {
            await api('POST', `/api/privacy/requests/${encodeURIComponent(id)}/${how}`, {});
            grantAnswers.set(id, how === 'agree' ? 'agreed' : 'declined');
            renderRequests();
            const again = requestsBody.querySelector(`[data-grant="${CSS.escape(id)}"] [data-test="request-state"]`);
            if (again) again.focus();
            announce(t(how === 'agree' ? 'requestAgreedState' : 'requestDeclinedState'));
          } catch (e) {
            agree.disabled = false; decline.disabled = false;
            if (e.status !== 401) err.textContent = t('actionFailed', { msg: e.message });
          }
        };
        agree.addEventListener('click', () => answer('agree'));
        decline.addEventListener('click', () => answer('decline'));
        li.append(h('div', { class: 'actions start' }, agree, decline));
      }
      li.append(err);
      ul.append(li);
    }
    requestsBody.replaceChildren(ul);
  }

  // What moderators decided about my messages.
  function renderNotices() {
    const st = pstate.moderation;
    const s = statusLine(st);
    if (s) { noticesBody.replaceChildren(s); return; }
    const list = Array.isArray(st.data) ? st.data.filter(Boolean) : [];
    if (!list.length) { noticesBody.replaceChildren(h('p', { class: 'muted', text: t('noticesNone') })); return; }
    const ul = h('ul', { class: 'item-list' });
    for (const n of list) {
      const c = chats.find((x) => x.chat === n.chat);
      ul.append(h('li', { class: 'item', 'data-test': 'moderation-notice' },
        h('p', { class: 'item-title', text: t('noticeDecision', { decision: label('dec_', n.decision) }) }),
        dlRows([
          [t('noticeWhen'), fmtDateTime(n.at)],
          [t('noticeReason'), label('reason_', n.reason)],
          [t('noticeMessage'), t('noticeMessageIn', { seq: String(n.seq), chat: c ? chatTitle(c) : String(n.chat || '—') })],
          n.until != null ? [t('noticeUntil'), fmtDateTime(n.until)] : null,
        ]),
        kvList(n, ['report_id', 'chat', 'seq', 'decision', 'reason', 'until', 'at'])));
    }
    noticesBody.replaceChildren(ul);
  }

  // Reports I filed.
  function renderReports() {
    const st = pstate.reports;
    const s = statusLine(st);
    if (s) { reportsBody.replaceChildren(s); return; }
    const list = Array.isArray(st.data) ? st.data.filter(Boolean) : [];
    if (!list.length) { reportsBody.replaceChildren(h('p', { class: 'muted', text: t('myReportsNone') })); return; }
    const ul = h('ul', { class: 'item-list' });
    for (const r of list) {
      ul.append(h('li', { class: 'item', 'data-test': 'my-report' },
        dlRows([
          [t('reportFiledAt'), fmtDateTime(r.filed_at)],
          [t('reportState'), label('state_', r.state)],
          [t('reportDecision'), r.decision == null ? t('reportNoDecision') : label('dec_', r.decision)],
          [t('reportRefLabel'), String(r.report_id || '—')],
        ]),
        kvList(r, ['report_id', 'state', 'decision', 'filed_at'])));
    }
    reportsBody.replaceChildren(ul);
  }

  // The access log, verified by the device against the ledger.
  function renderAccessRecord(rec, staff, index) {
    rec = rec || {};
    const allowed = rec.allowed !== false;
    const li = h('li', { class: 'access-item ' + (allowed ? 'allowed' : 'refused') });
    li.append(h('div', { class: 'ae-head' },
      h('time', { class: 'ae-when', datetime: isoOf(rec.at), text: fmtDateTime(rec.at) }),
      h('span', { class: 'pill ' + (allowed ? 'ok' : 'bad'), 'data-test': 'access-outcome', text: t(allowed ? 'accessAllowed' : 'accessRefused') })));
    const cats = Array.isArray(rec.categories) ? rec.categories.map((c) => label('cat_', c)).join(', ') : '';
    const what = label('act_', rec.action || '?') + (cats ? ' — ' + cats : '');
    const who = staff
      ? t('accessByStaff', { staff: String(staff.staff_id || '?'), org: String(staff.org_id || '?') })
      : String(rec.requester || '—');
    const roles = staff && Array.isArray(staff.roles) && staff.roles.length ? staff.roles.join(', ') : null;
    li.append(dlRows([
      [t('accessWhat'), what],
      [t('accessWho'), who],
      staff && staff.purpose ? [t('accessPurpose'), String(staff.purpose)] : null,
      staff && staff.ticket ? [t('accessTicket'), String(staff.ticket)] : null,
      roles ? [t('accessRoles'), roles] : null,
      staff && rec.requester && rec.requester !== staff.staff_id ? [t('accessRequester'), String(rec.requester)] : null,
      [t('accessFrom'), countryName(rec.to_country)],
      rec.region ? [t('accessRegion'), String(rec.region)] : null,
      rec.basis ? [t('accessBasis'), String(rec.basis)] : null,
      allowed ? null : [t('accessRefusal'), String(rec.refusal || '—')],
    ]));
    if (index != null) li.append(h('p', { class: 'proof', text: '✓ ' + t('accessProof', { index: String(index) }) }));
    else li.append(h('p', { class: 'unproven-note', text: t('accessNotYet') }));
    return li;
  }
  function renderAccesses() {
    const st = pstate.accesses;
    if (st && st.status === 'tampered') {
      accessBody.replaceChildren(h('div', { class: 'tamper-inline', 'data-test': 'access-tampered' },
        h('p', { class: 'strong', text: t('accessTampered') }), h('p', { text: st.error })));
      accessBox.dataset.state = 'tampered';
      return;
    }
    const s = statusLine(st, 'accessChecking');
    if (s) { accessBody.replaceChildren(s); return; }
    const d = st.data || {};
    const head = d.head || {};
    const prev = typeof d.previous_size === 'number' ? d.previous_size : null;
    const size = head.size == null ? '?' : String(head.size);
    const verified = h('div', { class: 'verified', 'data-test': 'access-verified', 'data-size': size },
      h('p', { class: 'strong', text: '✓ ' + t('accessVerifiedShort', { n: size }) }),
      h('p', { text: prev ? t('accessVerifiedExt', { n: size, prev: String(prev) }) : t('accessVerifiedFirst', { n: size }) }),
      head.timestamp_ms != null || head.origin
        ? h('p', { class: 'muted small', text: t('accessHeadInfo', { origin: String(head.origin || '—'), time: fmtDateTime(head.timestamp_ms) }) })
        : null);
    accessBox.dataset.state = 'verified';
    const parts = [verified];
    const entries = Array.isArray(d.accesses) ? d.accesses.filter(Boolean) : [];
    if (!entries.length) parts.push(h('p', { class: 'muted', text: t('accessNone') }));
    else {
      const ul = h('ul', { class: 'access-list' });
      // Newest first: the log grows at the end.
      for (const a of entries.slice().sort((x, y) => (y.index || 0) - (x.index || 0))) {
        const e = a.entry || {};
        const li = renderAccessRecord(e.record, e.staff || null, a.index == null ? '?' : a.index);
        li.dataset.test = 'access-entry';
        li.dataset.index = String(a.index);
        ul.append(li);
      }
      parts.push(ul);
    }
    const unproven = Array.isArray(d.unproven) ? d.unproven.filter(Boolean) : [];
    if (unproven.length) {
      const ul = h('ul', { class: 'access-list' });
      for (const rec of unproven) {
        const li = renderAccessRecord(rec, rec.staff || null, null);
        li.dataset.test = 'access-unproven';
        ul.append(li);
      }
      parts.push(h('h4', { text: t('unprovenTitle') }), h('p', { class: 'muted small', text: t('unprovenExplain') }), ul);
    }
    accessBody.replaceChildren(...parts);
  }

  // Where my data is, who may reach it and why.
  const DM_TOP = ['home_region', 'home_region_name', 'home_country', 'node_region', 'node_country', 'kept_abroad', 'categories', 'transfers', 'reports', 'consent'];
  const DM_CAT = ['category', 'fields', 'region', 'region_name', 'country', 'protection', 'accessible_from'];
  const DM_KEPT = ['region', 'region_name', 'country', 'categories', 'why', 'disclosure'];
  // The operator names regions in English: a page in another language shows
  // the country and the region's code instead.
  function regionText(name, code, country) {
    const where = countryName(country);
    // "Japan (JP), region jp" rather than "Japan (region jp, Japan (JP))".
    if (!name || lang !== 'en' || where.startsWith(String(name))) return t('dmRegionShort', { code: String(code || '—'), country: where });
    return t('dmRegion', { name: String(name), code: String(code || '—'), country: where });
  }
  function listText(items) {
    try { return new Intl.ListFormat(lang, { style: 'long', type: 'conjunction' }).format(items); } catch (_) { return items.join(', '); }
  }
  // Milliseconds as the node writes them in its sentences.
  function utcText(ms) {
    return new Date(ms).toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
  }

  // The operator's texts come with translations by language tag ("ja",
  // "ko-KR"): the one for the page's language, or undefined. The browser's
  // own tag for that language comes first ("ja-JP"), then the language
  // itself, then any other variety of it.
  function forPage(translations) {
    if (!translations || typeof translations !== 'object' || Array.isArray(translations)) return undefined;
    const tags = Object.keys(translations);
    const primary = (tag) => String(tag).toLowerCase().split('-')[0];
    const prefs = (navigator.languages && navigator.languages.length) ? navigator.languages : [navigator.language || ''];
    for (const want of [...prefs.map(String).filter((p) => primary(p) === lang), lang]) {
      const k = tags.find((tag) => tag.toLowerCase() === want.toLowerCase());
      if (k !== undefined) return translations[k];
    }
    const k = tags.filter((tag) => primary(tag) === lang).sort()[0];
    return k === undefined ? undefined : translations[k];
  }
  const usable = (s) => typeof s === 'string' && s.trim() !== '';
  // Why a country may reach my data, as the operator wrote it for the page's language.
  function whyText(a) {
    const w = forPage(a.why_translations);
    return usable(w) ? w : a.why;
  }
  // A disclosure with its texts in the page's language where the operator
  // gave them; anything else it carries is kept, its translations are not.
  const DISCLOSURE_TEXTS = ['country_name', 'protection_system', 'recipient_measures', 'transfer_basis'];
  function disclosureText(d) {
    const tr = forPage(d.translations);
    const out = {};
    for (const [k, v] of Object.entries(d)) {
      if (k === 'translations') continue;
      out[k] = tr && typeof tr === 'object' && DISCLOSURE_TEXTS.includes(k) && usable(tr[k]) ? tr[k] : v;
    }
    return out;
  }
  const disclosureOf = (a) => (a && a.disclosure && typeof a.disclosure === 'object' ? disclosureText(a.disclosure) : null);

  // A sentence the node writes itself, in the page's language.
  // `build(tr, en)` makes it from the same fields the node made it from,
  // `tr(key, vars)` filling in the English text (en) or the page's. The
  // translation is shown only when the English so built is exactly what the
  // node wrote: a sentence this page does not know stays as the node wrote it.
  function nodeSentence(server, build) {
    if (lang === 'en' || typeof server !== 'string') return server;
    const filler = (table) => (key, vars) => {
      const s = table[key];
      if (typeof s !== 'string') return null;
      if (!vars) return s;
      if (Object.values(vars).some((v) => v === null || v === undefined)) return null;
      return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    };
    try {
      if (build(filler(STRINGS.en), true) !== server) return server;
      const own = build(filler(STRINGS[lang]), false);
      return typeof own === 'string' ? own : server;
    } catch (_) {
      return server;
    }
  }
  function fieldsText(c) {
    return nodeSentence(c.fields.map(String).join(', '), (tr) => tr('dmFields_' + c.category));
  }
  function protectionText(c, d) {
    const p = c.protection;
    // How many days a file is kept, as the node's sentence says.
    const days = typeof p === 'string' ? (/\b(\d+) days\b/.exec(p) || [])[1] : undefined;
    for (const build of [
      (tr) => tr('dmProt_' + c.category),
      (tr) => tr('dmSealed', { region: d.home_region }),
      (tr) => tr('dmFilesSealed', { days }),
    ]) {
      const own = nodeSentence(p, build);
      if (own !== p) return own;
    }
    return p;
  }
  // Why a country may reach a category. What the serving node keeps away
  // from my home region (a category in a region other than my home) it
  // explains itself; anything else is the operator's reason.
  function reachWhy(a, c, d) {
    if (c.region !== d.home_region) {
      const own = nodeSentence(a.why, (tr, en) => tr('dmWhyAtNode', {
        node: en ? `${c.region_name} (${c.country})` : regionText(null, c.region, c.country),
        purpose: tr('dmPurpose_' + c.category),
      }));
      if (own !== a.why) return own;
    }
    return whyText(a);
  }
  function keptAbroadWhy(ka, d) {
    return nodeSentence(ka.why, (tr, en) => tr('dmWhyKeptAbroad', en ? {
      node: `${ka.region_name} (${ka.country})`,
      home: `${d.home_region_name} (${d.home_country})`,
      nodeName: ka.region_name,
      homeRegion: d.home_region,
      nodeCountry: ka.country,
    } : {
      node: regionText(null, ka.region, ka.country),
      home: regionText(null, d.home_region, d.home_country),
      nodeName: countryName(ka.country),
      homeRegion: d.home_region,
      nodeCountry: countryName(ka.country),
    }));
  }
  // What my agreement's standing means, and what withdrawing it would.
  function consentTexts(consent) {
    const dv = consent.disclosures && typeof consent.disclosures === 'object' ? consent.disclosures : {};
    const codes = Array.isArray(dv.foreign) ? dv.foreign.filter(Boolean).map((f) => f.country) : [];
    const countries = (en) => (en ? codes.join(', ') : listText(codes.map(countryName)));
    const where = (code, en) => (en ? code : countryName(code));
    const withheld = (tr, en) => (dv.node_country !== dv.country
      ? tr('dmWithheldAbroad', { home: where(dv.country, en), node: where(dv.node_country, en) })
      : tr('dmWithheldHome', { home: where(dv.country, en), countries: countries(en) }));
    const hist = Array.isArray(consent.history) ? consent.history.filter(Boolean) : [];
    const last = hist[hist.length - 1];
    const consequence = nodeSentence(consent.consequence, (tr, en) => {
      const base = { region: dv.region, version: dv.version, country: where(dv.country, en), countries: countries(en) };
      switch (consent.standing) {
        case 'not_needed': return tr('dmConsequence_not_needed', base);
        case 'agreed': return tr('dmConsequence_agreed', base);
        case 'needed': return tr('dmConsequence_needed', { ...base, withheld: withheld(tr, en) });
        case 'withdrawn':
          return last && typeof last.at === 'number'
            ? tr('dmConsequence_withdrawnAt', { at: en ? utcText(last.at) : fmtDateTime(last.at), withheld: withheld(tr, en) })
            : tr('dmConsequence_withdrawn', { withheld: withheld(tr, en) });
        default: return null;
      }
    });
    const ifWithdrawn = nodeSentence(consent.if_withdrawn, (tr, en) => tr('dmIfWithdrawn', { withheld: withheld(tr, en) }));
    return { consequence, ifWithdrawn };
  }
  function renderKeptAbroad(ka, d) {
    const cats = Array.isArray(ka.categories) ? listText(ka.categories.map((c) => label('cat_', c))) : null;
    return h('div', { class: 'dm-kept-abroad', 'data-test': 'data-map-kept-abroad' },
      dlRows([
        [t('dmStored'), regionText(ka.region_name, ka.region, ka.country)],
        cats ? [t('dmKeptAbroadWhat'), cats] : null,
      ]),
      ka.why ? h('p', { text: String(keptAbroadWhy(ka, d)) }) : null,
      ka.disclosure ? h('p', { class: 'muted small', text: t('dmSeeDisclosure') }) : null,
      kvList(ka, DM_KEPT));
  }

  function renderDataMap() {
    const st = pstate.dataMap;
    const s = statusLine(st);
    if (s) { dataMapBody.replaceChildren(s); return; }
    const d = st.data && typeof st.data === 'object' ? st.data : {};
    const ka = d.kept_abroad && typeof d.kept_abroad === 'object' ? d.kept_abroad : null;
    const parts = [];
    parts.push(dlRows([
      [t('dmHome'), regionText(d.home_region_name, d.home_region, d.home_country)],
      d.node_region || d.node_country ? [t('dmNode'), regionText(null, d.node_region, d.node_country)] : null,
      'kept_abroad' in d ? [t('dmKeptAbroad'), d.kept_abroad == null ? t('dmKeptAbroadNone')
        : ka ? renderKeptAbroad(ka, d) : renderValue(d.kept_abroad, 'kept_abroad')] : null,
    ]));

    // Disclosures are the same for many categories: shown once, below.
    const foreign = new Map();
    const noteForeign = (country, why, disclosure) => {
      if (!disclosure || typeof disclosure !== 'object') return;
      const k = String(country) + '\u0000' + JSON.stringify(disclosure);
      if (!foreign.has(k)) foreign.set(k, { country, why, disclosure });
    };
    const cats = Array.isArray(d.categories) ? d.categories.filter((c) => c && typeof c === 'object') : [];
    if (cats.length) {
      parts.push(h('h4', { text: t('dmCategories') }), h('p', { class: 'muted small', text: t('dmCategoriesExplain') }));
      const wrap = h('div', { class: 'dm-categories' });
      for (const c of cats) {
        const reach = Array.isArray(c.accessible_from) ? c.accessible_from.filter(Boolean) : [];
        const abroad = reach.filter((a) => a.country && String(a.country).toUpperCase() !== String(c.country || '').toUpperCase());
        const abroadNames = abroad.map((a) => { const dl = disclosureOf(a); return (dl && dl.country_name) || countryName(a.country); });
        const where = lang === 'en' ? String(c.region_name || c.region || '—') : regionText(c.region_name, c.region, c.country);
        const summary = h('summary', {},
          h('span', { class: 'dm-cat-name', text: label('cat_', c.category) }),
          h('span', { class: 'muted small dm-cat-where', text: t('dmStoredIn', { where })
            + (abroadNames.length ? ' · ' + t('dmAlsoFrom', { list: abroadNames.join(', ') }) : '') }));
        const reachList = h('ul', { class: 'reach-list' });
        for (const a of reach) {
          const why = reachWhy(a, c, d);
          noteForeign(a.country, why, a.disclosure);
          const dl = disclosureOf(a);
          const name = dl && dl.country_name ? `${dl.country_name} (${String(a.country).toUpperCase()})` : countryName(a.country);
          reachList.append(h('li', {},
            h('strong', { text: name }), document.createTextNode(': ' + String(why || a.basis || '—')),
            a.disclosure ? h('span', { class: 'muted small', text: ' ' + t('dmSeeDisclosure') }) : null,
            kvList(a, ['country', 'why', 'why_translations', 'disclosure'])));
        }
        const det = h('details', { class: 'dm-category', 'data-test': 'data-map-category', 'data-category': String(c.category || '') },
          summary,
          dlRows([
            [t('dmFields'), Array.isArray(c.fields) ? fieldsText(c) : renderValue(c.fields, 'fields')],
            [t('dmStored'), regionText(c.region_name, c.region, c.country)],
            [t('dmProtection'), h('span', { 'data-test': 'data-map-protection', text: String(protectionText(c, d) || '—') })],
            [t('dmReach'), reach.length ? reachList : t('none')],
          ]),
          kvList(c, DM_CAT));
        wrap.append(det);
      }
      parts.push(wrap);
    }

    const consent = d.consent && typeof d.consent === 'object' ? d.consent : null;
    if (consent && consent.disclosures && Array.isArray(consent.disclosures.foreign)) {
      for (const f of consent.disclosures.foreign) if (f) noteForeign(f.country, whyText(f), f.disclosure);
    }
    if (ka) noteForeign(ka.country, null, ka.disclosure);
    if (foreign.size) {
      parts.push(h('h4', { text: t('dmDisclosures') }), h('p', { class: 'muted small', text: t('dmDisclosuresExplain') }));
      for (const { country, why, disclosure } of foreign.values()) {
        const dl = disclosureText(disclosure);
        const name = dl.country_name ? `${dl.country_name} (${String(country).toUpperCase()})` : countryName(country);
        parts.push(h('section', { class: 'dm-disclosure', 'data-test': 'data-map-disclosure', 'data-country': String(country) },
          h('h5', { text: name }),
          why ? h('p', { text: String(why) }) : null,
          kvList(dl, ['country_name'])));
      }
    }

    parts.push(h('h4', { text: t('dmTransfers') }));
    const transfers = Array.isArray(d.transfers) ? d.transfers : [];
    parts.push(transfers.length ? dataTable(transfers) : h('p', { class: 'muted', text: t('dmTransfersNone') }));

    if (Array.isArray(d.reports) && d.reports.length) {
      parts.push(h('h4', { text: t('dmReports') }), dataTable(d.reports));
    }

    if (consent) {
      const box = h('div', { class: 'dm-consent', 'data-test': 'data-map-consent' });
      const said = consentTexts(consent);
      box.append(h('p', { class: 'strong', text: t('dmConsentStanding', { standing: label('consent_', consent.standing || '—') }) }));
      if (consent.consequence) box.append(h('p', {}, withCode(String(said.consequence))));
      if (consent.if_withdrawn) box.append(h('p', { class: 'muted' }, withCode(String(said.ifWithdrawn))));
      const dv = consent.disclosures;
      if (dv && dv.version) box.append(h('p', { class: 'muted small', text: t('dmDisclosureVersion', { v: String(dv.version) }) }));
      const hist = Array.isArray(consent.history) ? consent.history.filter(Boolean) : [];
      if (hist.length) {
        // Steps and countries as words of the page's language.
        const rows = hist.map((e) => (e && typeof e === 'object' ? {
          ...e,
          ...(typeof e.step === 'string' ? { step: label('consent_', e.step) } : {}),
          ...(Array.isArray(e.countries) ? { countries: e.countries.map(countryName) } : {}),
        } : e));
        box.append(h('h5', { text: t('dmConsentHistory') }), dataTable(rows));
      }
      const extra = kvList(consent, ['standing', 'consequence', 'if_withdrawn', 'disclosures', 'history']);
      if (extra) box.append(extra);
      parts.push(h('h4', { text: t('dmConsent') }), box);
    }

    const extra = kvList(d, DM_TOP);
    if (extra) parts.push(h('h4', { text: t('dmOther') }), extra);
    dataMapBody.replaceChildren(...parts);
  }

  // Erasing the account.
  function renderErase() {
    eraseLabel.textContent = t('eraseLabel', { handle: me && me.handle ? me.handle : '…' });
    eraseBtn.disabled = !(me && me.handle && eraseInput.value.trim() === me.handle);
  }
  eraseInput.addEventListener('input', () => { eraseError.textContent = ''; renderErase(); });
  eraseForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    renderErase();
    if (eraseBtn.disabled) return;
    eraseBtn.disabled = true;
    eraseError.textContent = '';
    try {
      const r = await api('POST', '/api/privacy/erase', { confirm: eraseInput.value.trim() });
      if (!r || r.erased !== true) throw new ApiError('not_erased', t('eraseNotConfirmed'), 0);
      erased = true;
      endSession();
      const heading = sessionNotice.querySelector('h1');
      if (heading) { heading.tabIndex = -1; heading.focus(); }
    } catch (err) {
      if (err.status !== 401) eraseError.textContent = t('eraseFailed', { msg: err.message });
      renderErase();
    }
  });

  // ---------------------------------------------------------------------
  // v2: settings (devices, blocked people, contacts, language)
  // ---------------------------------------------------------------------
  const settingsHeading = h('h2', { id: 'settings-heading', tabindex: '-1', i18n: 'settingsTitle' });
  const devicesBody = h('div', {});
  const approveInput = h('input', { id: 'approve-code', type: 'text', 'data-test': 'approve-code', autocomplete: 'off',
    autocapitalize: 'characters', spellcheck: 'false', placeholder: 'ABCD-1234', maxlength: '32' });
  const approveBtn = h('button', { type: 'submit', class: 'btn', 'data-test': 'approve-submit', i18n: 'approveSubmit' });
  const approveResult = h('p', { class: 'ok-text', role: 'status', 'data-test': 'approve-result' });
  const approveError = h('div', { class: 'error', role: 'alert' });
  const approveForm = h('form', { class: 'inline-form', novalidate: true },
    h('label', { for: 'approve-code', i18n: 'approveLabel' }),
    h('div', { class: 'row-fields' }, approveInput, approveBtn), approveResult, approveError);
  const approveExplain = h('p', { class: 'muted small' });
  const devicesBox = section('devices', 'devicesTitle', devicesBody, h('h4', { i18n: 'approveTitle' }), approveExplain, approveForm);

  const blockedBody = h('div', {});
  const blockInput = h('input', { id: 'block-handle', type: 'text', 'data-test': 'block-handle', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
  i18nAttrs(blockInput, 'placeholder:handlePlaceholder');
  const blockBtn = h('button', { type: 'submit', class: 'btn', 'data-test': 'block-submit', i18n: 'blockSubmit' });
  const blockError = h('div', { class: 'error', role: 'alert' });
  const blockForm = h('form', { class: 'inline-form', novalidate: true },
    h('label', { for: 'block-handle', i18n: 'blockLabel' }), h('div', { class: 'row-fields' }, blockInput, blockBtn), blockError);
  const blockedBox = section('blocked', 'blockedTitle', h('p', { class: 'muted small', i18n: 'blockedExplain' }), blockedBody, blockForm);

  const contactsBody = h('div', {});
  const contactInput = h('input', { id: 'contact-handle', type: 'text', 'data-test': 'contact-handle', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
  i18nAttrs(contactInput, 'placeholder:handlePlaceholder');
  const contactBtn = h('button', { type: 'submit', class: 'btn', 'data-test': 'contact-submit', i18n: 'contactAdd' });
  const contactError = h('div', { class: 'error', role: 'alert' });
  const contactForm = h('form', { class: 'inline-form', novalidate: true },
    h('label', { for: 'contact-handle', i18n: 'contactLabel' }), h('div', { class: 'row-fields' }, contactInput, contactBtn), contactError);
  const contactsBox = section('contacts', 'contactsTitle', h('p', { class: 'muted small', i18n: 'contactsExplain' }), contactsBody, contactForm);

  const settingsLang = h('select', { id: 'settings-lang', 'data-test': 'settings-lang-select' },
    ...LANGS.map(([code, l]) => h('option', { value: code, lang: code, text: l })));
  const langBox = section('language', 'language', h('label', { for: 'settings-lang', class: 'vh', i18n: 'language' }), settingsLang);
  settingsView.append(h('div', { class: 'page-inner' }, settingsHeading, devicesBox, blockedBox, contactsBox, langBox));
  settingsLang.addEventListener('change', () => {
    langSelect.value = settingsLang.value;
    langSelect.dispatchEvent(new Event('change'));
  });

  function loadSettings() {
    loadInto('devices', () => api('GET', '/api/devices'), renderDevices, devicesBox);
    loadInto('blocked', () => api('GET', '/api/blocked'), renderBlocked, blockedBox);
    loadInto('contacts', () => api('GET', '/api/contacts'), renderContacts, contactsBox);
    approveExplain.replaceChildren(withCode(t('approveExplain')));
    settingsLang.value = lang;
  }

  // The device whose removal the page is asking about: the question stays
  // open when the list is drawn again (a late answer, another device's change).
  let devicesAsking = null;
  function renderDevices() {
    const st = pstate.devices;
    const s = statusLine(st);
    if (s) { devicesBody.replaceChildren(s); return; }
    const list = Array.isArray(st.data) ? st.data.filter((d) => d && d.device_id != null) : [];
    const ul = h('ul', { class: 'item-list' });
    for (const d of list) {
      const id = String(d.device_id);
      const name = d.label ? String(d.label) : t('deviceUnnamed');
      const actions = h('div', { class: 'actions start' });
      const li = h('li', { class: 'item device', 'data-test': 'device-item', 'data-device': id },
        h('p', { class: 'item-title' }, name, d.this_device ? h('span', { class: 'tag muted-tag', text: t('thisDevice') }) : null),
        h('p', { class: 'muted small' }, h('code', { text: id })),
        h('p', { class: 'muted small', text: t('deviceLinked', { at: fmtDateTime(d.linked_at) }) + ' · '
          + (d.last_seen == null ? t('deviceNeverSeen') : t('deviceLastSeen', { at: fmtDateTime(d.last_seen) })) }),
        actions);
      if (!d.this_device) {
        const b = h('button', { type: 'button', class: 'btn danger-outline', 'data-test': 'revoke-device',
          'aria-label': t('revokeNamed', { name }), text: t('revoke') });
        b.addEventListener('click', () => { devicesAsking = id; askFirst(actions, b, {
          question: t('revokeQuestion', { name }),
          confirm: t('revoke'),
          hook: 'revoke-confirm',
          onCancel: () => { devicesAsking = null; },
          onConfirm: async () => {
            await api('DELETE', '/api/devices/' + encodeURIComponent(id));
            devicesAsking = null;
            announce(t('revoked', { name }));
            await loadInto('devices', () => api('GET', '/api/devices'), renderDevices, devicesBox);
            devicesBox.querySelector('h3').focus();
          },
        }); });
        actions.append(b);
        if (devicesAsking === id) b.click();
      }
      ul.append(li);
    }
    devicesBody.replaceChildren(list.length ? ul : h('p', { class: 'muted', text: t('devicesNone') }));
  }
  approveForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const code = approveInput.value.trim().toUpperCase();
    approveResult.textContent = '';
    approveError.textContent = '';
    if (!code) { approveError.textContent = t('approveNeedCode'); approveInput.focus(); return; }
    approveBtn.disabled = true;
    try {
      const r = await api('POST', '/api/devices/approve', { code });
      approveInput.value = '';
      approveResult.textContent = t('approveDone', { id: r && r.device_id ? String(r.device_id) : '?' });
      loadInto('devices', () => api('GET', '/api/devices'), renderDevices, devicesBox);
    } catch (err) {
      if (err.status !== 401) approveError.textContent = t('approveFailed', { msg: err.message });
    } finally {
      approveBtn.disabled = false;
    }
  });

  function renderBlocked() {
    const st = pstate.blocked;
    const s = statusLine(st);
    if (s) { blockedBody.replaceChildren(s); return; }
    const list = Array.isArray(st.data) ? st.data.filter((b) => b && typeof b.handle === 'string') : [];
    if (!list.length) { blockedBody.replaceChildren(h('p', { class: 'muted', text: t('blockedNone') })); return; }
    const ul = h('ul', { class: 'item-list compact' });
    for (const b of list) {
      const un = h('button', { type: 'button', class: 'btn secondary small-btn', 'data-test': 'unblock',
        'aria-label': t('unblockNamed', { handle: b.handle }), text: t('unblock') });
      un.addEventListener('click', () => changeBlocked('DELETE', '/api/blocked/' + encodeURIComponent(b.handle), undefined, un, t('unblocked', { handle: b.handle })));
      ul.append(h('li', { class: 'item line-item', 'data-test': 'blocked-item', 'data-handle': b.handle },
        h('span', { class: 'member-handle', text: b.handle }),
        h('span', { class: 'muted small', text: b.since != null ? t('blockedSince', { at: fmtDateTime(b.since) }) : '' }),
        un));
    }
    blockedBody.replaceChildren(ul);
  }
  async function changeBlocked(method, path, bodyObj, btn, done) {
    btn.disabled = true;
    blockError.textContent = '';
    try {
      const list = await api(method, path, bodyObj);
      pstate.blocked = { status: 'ok', data: list, error: null };
      renderBlocked();
      announce(done);
      return true;
    } catch (err) {
      if (err.status !== 401) blockError.textContent = t('actionFailed', { msg: err.message });
      return false;
    } finally {
      btn.disabled = false;
      if (!btn.isConnected) blockInput.focus();
    }
  }
  blockForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const handle = blockInput.value.trim().replace(/^@/, '');
    if (!handle) { blockError.textContent = t('needOneHandle'); blockInput.focus(); return; }
    if (await changeBlocked('POST', '/api/blocked', { handle }, blockBtn, t('blockedDone', { handle }))) blockInput.value = '';
  });

  function contactHandles() {
    const st = pstate.contacts;
    return st && st.data && Array.isArray(st.data.handles) ? st.data.handles.filter((x) => typeof x === 'string') : [];
  }
  function renderContacts() {
    const st = pstate.contacts;
    const s = statusLine(st);
    if (s) { contactsBody.replaceChildren(s); return; }
    const list = contactHandles();
    if (!list.length) { contactsBody.replaceChildren(h('p', { class: 'muted', text: t('contactsNone') })); return; }
    const ul = h('ul', { class: 'item-list compact' });
    for (const handle of list) {
      const rm = h('button', { type: 'button', class: 'btn secondary small-btn', 'data-test': 'contact-remove',
        'aria-label': t('contactRemoveNamed', { handle }), text: t('contactRemove') });
      rm.addEventListener('click', () => saveContacts(contactHandles().filter((x) => x !== handle), rm));
      ul.append(h('li', { class: 'item line-item', 'data-test': 'contact-item', 'data-handle': handle },
        h('span', { class: 'member-handle', text: handle }), rm));
    }
    contactsBody.replaceChildren(ul);
  }
  async function saveContacts(handles, btn) {
    btn.disabled = true;
    contactError.textContent = '';
    try {
      const r = await api('PUT', '/api/contacts', { handles });
      pstate.contacts = { status: 'ok', data: r, error: null };
      renderContacts();
      return true;
    } catch (err) {
      if (err.status !== 401) contactError.textContent = t('actionFailed', { msg: err.message });
      return false;
    } finally {
      btn.disabled = false;
      if (!btn.isConnected) contactInput.focus();
    }
  }
  contactForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const handle = contactInput.value.trim().replace(/^@/, '');
    if (!handle) { contactError.textContent = t('needOneHandle'); contactInput.focus(); return; }
    const list = contactHandles();
    if (list.includes(handle)) { contactInput.value = ''; return; }
    if (await saveContacts(list.concat([handle]), contactBtn)) contactInput.value = '';
  });

  // Re-renders what the sections show (after a language change).
  function renderPages() {
    for (const [key, render] of [['requests', renderRequests], ['moderation', renderNotices], ['accesses', renderAccesses],
      ['dataMap', renderDataMap], ['reports', renderReports], ['devices', renderDevices], ['blocked', renderBlocked],
      ['contacts', renderContacts]]) {
      if (pstate[key]) render();
    }
    renderErase();
    approveExplain.replaceChildren(withCode(t('approveExplain')));
  }

  // ---------------------------------------------------------------------
  // v2: the tamper banner (stays until the page is reloaded)
  // ---------------------------------------------------------------------
  // A tampered ledger outranks keys not in the key log, which outrank a
  // chat member not in it: a lesser warning never hides a greater one, and
  // warnings of one kind are all kept.
  const tamperRank = { memberKeys: 1, announcementTamper: 1, keysTamper: 2, tamper: 3 };

  // ---------------------------------------------------------------------
  // Official accounts
  // ---------------------------------------------------------------------
  // What a badge says, as the device checked it in the key log.
  function badgeDetails(b) {
    const c = b.claim || {};
    return [
      h('p', { class: 'official-badge', 'data-test': 'official-badge' },
        h('span', { 'aria-hidden': 'true', text: '✓ ' }),
        h('span', { 'data-test': 'official-organisation', text: t('officialBadge', { org: c.organisation }) })),
      h('p', { class: 'muted small', text: [t('officialKind_' + c.kind), c.area, countryName(c.country)].filter(Boolean).join(' · ') }),
      h('p', { class: 'small', text: t('officialKeeps', { where: c.keeps_data, country: countryName(c.keeps_data_country) }) }),
      h('p', { class: 'muted small', text: t('officialContact', { contact: c.contact }) }),
      h('p', { class: 'muted small', text: t('officialChecked') }),
    ];
  }
  // An account's standing: its badge, or why it holds none.
  function standingNodes(st) {
    if (st && st.official) return badgeDetails(st.official);
    if (st && st.revoked) return [h('p', { class: 'official-revoked', 'data-test': 'official-revoked', text: t('officialRevoked', { handle: st.handle, reason: st.revoked.reason }) })];
    return [h('p', { 'data-test': 'official-none', text: t('officialNot', { handle: st ? st.handle : '' }) })];
  }

  function openOfficial() {
    officialForm.hidden = false;
    officialBtn.setAttribute('aria-expanded', 'true');
    ofError.textContent = '';
    ofHandle.focus();
  }
  function closeOfficial(refocus) {
    officialForm.hidden = true;
    officialBtn.setAttribute('aria-expanded', 'false');
    ofResult.replaceChildren();
    ofError.textContent = '';
    if (refocus) officialBtn.focus();
  }
  officialBtn.addEventListener('click', () => (officialForm.hidden ? openOfficial() : closeOfficial(true)));
  officialForm.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); closeOfficial(true); }
  });
  officialForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const handle = ofHandle.value.replace(/^@/, '').trim();
    if (!handle) { ofError.textContent = t('needHandle'); ofHandle.focus(); return; }
    ofLookup.disabled = true;
    ofError.textContent = '';
    ofResult.replaceChildren();
    try {
      const st = await api('GET', `/api/official/${encodeURIComponent(handle)}`);
      ofResult.replaceChildren(...standingNodes(st));
      if (st && st.official) {
        const follow = h('button', { type: 'button', class: 'btn', 'data-test': 'official-follow', text: t('officialFollow') });
        follow.addEventListener('click', async () => {
          follow.disabled = true;
          ofError.textContent = '';
          try {
            const r = await api('POST', `/api/official/${encodeURIComponent(handle)}/follow`);
            ofHandle.value = '';
            closeOfficial(false);
            await refreshChats();
            if (r && r.chat) openChat(r.chat, { user: true });
          } catch (err) {
            follow.disabled = false;
            if (err.status !== 401) ofError.textContent = t('actionFailed', { msg: err.message });
          }
        });
        ofResult.append(h('div', { class: 'actions' }, follow));
      }
    } catch (err) {
      if (err.status !== 401) ofError.textContent = t('actionFailed', { msg: err.message });
    } finally {
      ofLookup.disabled = false;
    }
  });

  // The open chat's official account, checked afresh when the chat opens
  // (a revocation shows at once), with a way to stop following it.
  let officialShown = null; // "chat|handle" shown in officialBox
  function showOfficial(mark) {
    const key = mark && conv ? `${conv.chat}|${mark.handle}` : null;
    if (key === officialShown) return;
    // What unfollowing said stays until another chat opens.
    if (!key && conv && officialShown === `${conv.chat}|done`) return;
    officialShown = key;
    officialBox.replaceChildren();
    officialBox.hidden = !key;
    if (!key) return;
    const cv = conv;
    const handle = mark.handle;
    api('GET', `/api/official/${encodeURIComponent(handle)}`).then((st) => {
      if (officialShown !== key || cv !== conv) return;
      const erase = h('input', { type: 'checkbox', id: 'official-erase', 'data-test': 'official-erase' });
      const unfollow = h('button', { type: 'button', class: 'btn danger-outline small-btn', 'data-test': 'official-unfollow', text: t('officialUnfollow') });
      const box = h('div', { class: 'official-actions' },
        h('label', { class: 'small' }, erase, ' ', h('span', { text: t('officialErase') })), unfollow);
      unfollow.addEventListener('click', () => askFirst(box, unfollow, {
        question: t('officialUnfollowQ', { handle }),
        confirm: t('officialUnfollow'),
        hook: 'official-unfollow-confirm',
        onConfirm: async () => {
          const asked = erase.checked;
          await api('POST', `/api/official/${encodeURIComponent(handle)}/unfollow`, { erase: asked });
          const done = t(asked ? 'officialErasureAsked' : 'officialUnfollowed', { handle });
          announce(done);
          if (conv === cv) {
            officialShown = `${cv.chat}|done`;
            officialBox.replaceChildren(h('p', { class: 'small', 'data-test': 'official-unfollowed', text: done }));
            officialBox.hidden = false;
          }
          if (conv === cv) {
            const r = await api('GET', chatPath(cv.chat, '/messages')).catch(() => null);
            if (r && Array.isArray(r.messages) && conv === cv) addMessages(cv, r.messages);
          }
          await refreshChats();
        },
      }));
      officialBox.replaceChildren(...standingNodes(st), box);
    }, (err) => {
      if (officialShown !== key || err.status === 401) return;
      officialBox.replaceChildren(h('p', { class: 'error', text: t('actionFailed', { msg: err.message }) }));
    });
  }

  // An announcement, checked on the device: shown until dismissed; a
  // dismissed one (by its position) stays dismissed.
  function showAnnouncement(a) {
    if (!a || typeof a.pos !== 'number') return;
    const dismissed = Number(localStorage.getItem('kizuna.announcementDismissed') || '0');
    if (a.pos <= dismissed) return;
    const shown = Number(announcementBanner.dataset.pos || '0');
    if (a.pos < shown) return;
    announcementBanner.dataset.pos = String(a.pos);
    announcementBanner.dataset.severity = a.severity;
    announcementBanner.setAttribute('role', a.severity === 'info' ? 'status' : 'alert');
    const dismiss = h('button', { type: 'button', 'data-test': 'announcement-dismiss', text: t('announcementDismiss') });
    dismiss.addEventListener('click', () => {
      localStorage.setItem('kizuna.announcementDismissed', String(a.pos));
      announcementBanner.hidden = true;
    });
    announcementBanner.replaceChildren(
      h('p', { class: 'announcement-from', text: `${t('severity_' + a.severity)}: ${t('announcementFrom', { org: a.organisation, handle: a.handle })}` }),
      h('p', { class: 'announcement-text', 'data-test': 'announcement-text', text: a.text }),
      dismiss);
    announcementBanner.hidden = false;
  }
  function showTamper(message, kind) {
    kind = kind || 'tamper';
    message = String(message || '');
    if (tamperMessage && tamperRank[tamperKind] > tamperRank[kind]) return;
    if (tamperMessage && tamperKind === kind) {
      if (tamperMessage.split('\n').includes(message)) return;
      message = tamperMessage + '\n' + message;
    }
    tamperMessage = message;
    tamperKind = kind;
    tamperBanner.hidden = false;
    renderTamper();
    updateTitle();
  }
  function renderTamper() {
    if (!tamperMessage) return;
    tamperBanner.replaceChildren(
      h('p', { class: 'tamper-title', text: '⚠ ' + t(tamperKind + 'Title') }),
      h('p', { class: 'tamper-message', text: tamperMessage }),
      h('p', { class: 'tamper-advice', text: t(tamperKind + 'Advice') }));
  }

  // ---------------------------------------------------------------------
  // Start
  // ---------------------------------------------------------------------
  const initialHash = location.hash || '';
  applyLang();
  renderChatList();
  showView('chats');
  (async () => {
    const meP = api('GET', '/api/me').then((r) => {
      me = r;
      if (me && me.handle) {
        meLabel.textContent = '@' + me.handle;
        document.body.dataset.handle = me.handle;
      }
    }, () => { /* 401 handled; otherwise the list still loads */ });
    connectEvents();
    api('GET', '/api/announcements').then((list) => {
      if (Array.isArray(list) && list.length) showAnnouncement(list[0]);
    }, () => { /* none shown */ });
    await refreshChats();
    await meP;
    if (sessionOver) return;
    renderChatList(); // "You:" prefixes need `me`
    renderErase();
    const want = decodeURIComponent(initialHash.slice(1));
    if (want === 'privacy' || want === 'settings') showView(want);
    else if (want && chats.some((c) => c.chat === want)) openChat(want);
  })();
})();
